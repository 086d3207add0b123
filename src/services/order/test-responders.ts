/**
 * Test support for the order service's tests: small stand-ins for the user, inventory, payment and
 * shipping services that answer the saga's commands as those services would (configurable per
 * test), and an observer that records every message the order service emits.
 */
import { AllEvents } from "../../contracts/index.js";
import type { MessageContext } from "../../lib/bus/context.js";
import type { EventInput, EventName } from "../../lib/bus/events.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import type { Transport } from "../../lib/bus/transport.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { createOwnerSigner } from "../../lib/security/signing.js";

type Events = typeof AllEvents;
type Ctx = MessageContext<unknown, Events>;

export interface ResponderBehaviour {
  user: "valid" | "invalid" | "silent";
  inventory: "reserve" | "out_of_stock" | "silent";
  /** `transient:N`: the first N attempts fail transiently, later ones succeed. */
  payment: "ok" | "declined" | "silent" | `transient:${number}`;
  shipping: "ok" | "fail" | "silent";
  deliver: boolean;
  /** Publish every reply twice (two distinct messages), as an at-least-once producer may. */
  duplicate: boolean;
}

export const PRICES: Record<string, number> = { "sku-1": 1250, "sku-2": 500 };

export const defaultBehaviour = (): ResponderBehaviour => ({
  user: "valid",
  inventory: "reserve",
  payment: "ok",
  shipping: "ok",
  deliver: true,
  duplicate: false,
});

/** Everything the order service emits, as the observer saw it. */
export const ORDER_OUTPUTS = [
  "order.placed",
  "order.inventory.reserved",
  "order.payment.processed",
  "order.shipment.prepared",
  "order.completed",
  "order.delivered",
  "order.failed",
  "order.cancelled",
  "user.validation.requested",
  "inventory.reservation.requested",
  "inventory.commit.requested",
  "payment.requested",
  "shipping.shipment.requested",
  "order.compensation.inventory.release",
  "order.compensation.payment.refund",
  "order.compensation.shipment.cancel",
] as const satisfies readonly EventName<Events>[];

export interface Seen {
  event: string;
  payload: Record<string, unknown>;
}

export interface Simulation {
  behaviour: ResponderBehaviour;
  seen: Seen[];
  /** Messages about one order, optionally of one event. */
  about(orderId: string, event?: string): Seen[];
  stop(): Promise<void>;
}

function reply(behaviour: ResponderBehaviour) {
  return async <N extends EventName<Events>>(ctx: Ctx, event: N, payload: EventInput<Events, N>) => {
    await ctx.publish(event, payload);
    if (behaviour.duplicate) await ctx.publish(event, payload);
  };
}

function responders(subscriber: Subscriber<Events, Events>, behaviour: ResponderBehaviour): void {
  const send = reply(behaviour);
  subscriber.on("user.validation.requested", async (p, ctx) => {
    if (behaviour.user === "silent") return;
    const valid = behaviour.user === "valid";
    await send(ctx, "user.validated", {
      orderId: p.orderId,
      userId: p.userId,
      valid,
      ...(valid ? {} : { reason: "user not found" }),
    });
  });
  subscriber.on("inventory.reservation.requested", async (p, ctx) => {
    if (behaviour.inventory === "silent") return;
    if (behaviour.inventory === "out_of_stock") {
      const items = p.items.map((l) => ({ productId: l.productId, requested: l.quantity, available: 0 }));
      await send(ctx, "inventory.reservation.failed", { orderId: p.orderId, reason: "out_of_stock", items });
      return;
    }
    const items = p.items.map((l) => ({ ...l, unitPrice: PRICES[l.productId] ?? 100 }));
    const total = items.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
    await send(ctx, "inventory.reserved", { orderId: p.orderId, items, total, currency: "USD" });
  });
  subscriber.on("payment.requested", async (p, ctx) => {
    const mode = behaviour.payment;
    if (mode === "silent") return;
    const failing =
      mode === "declined" || (mode.startsWith("transient:") && p.attempt <= Number(mode.slice(10)));
    if (!failing) {
      await send(ctx, "payment.processed", {
        orderId: p.orderId,
        paymentId: `pay-${p.orderId}`,
        amount: p.amount,
        currency: p.currency,
      });
      return;
    }
    const declined = mode === "declined";
    const failure = {
      reason: declined ? "card declined" : "provider timeout",
      code: declined ? "declined" : "timeout",
    } as const;
    await send(ctx, "payment.failed", {
      orderId: p.orderId,
      ...failure,
      transient: !declined,
      attempt: p.attempt,
    });
  });
  subscriber.on("shipping.shipment.requested", async (p, ctx) => {
    if (behaviour.shipping === "silent") return;
    if (behaviour.shipping === "fail") {
      await send(ctx, "shipping.shipment.failed", {
        orderId: p.orderId,
        reason: "no carrier",
        transient: false,
      });
      return;
    }
    const shipmentId = `shp-${p.orderId}`;
    await send(ctx, "shipping.shipment.prepared", {
      orderId: p.orderId,
      shipmentId,
      trackingNumber: "TRK1",
      carrier: "UPS",
    });
    if (behaviour.deliver) {
      await send(ctx, "shipping.shipment.delivered", {
        orderId: p.orderId,
        shipmentId,
        deliveredAt: new Date().toISOString(),
      });
    }
  });
}

/** Starts the responders and the observer on a transport (before the order service sends anything). */
export async function startSimulation(
  transport: Transport,
  behaviour = defaultBehaviour(),
): Promise<Simulation> {
  const publisher = new Publisher({
    events: AllEvents,
    transport,
    source: { service: "simulated", instance: "test" },
    // It answers for inventory, payment and shipping: each answer signed as its event's owner.
    signer: createOwnerSigner(getProcessKeyring()),
  });
  const base = { events: AllEvents, transport, publisher, retry: { maxAttempts: 5, backoff: () => 10 } };
  const responder = new Subscriber<Events, Events>({ ...base, group: "test-responders", consumer: "r1" });
  responders(responder, behaviour);
  const observer = new Subscriber<Events, Events>({ ...base, group: "test-observer", consumer: "o1" });
  const seen: Seen[] = [];
  for (const event of ORDER_OUTPUTS) {
    observer.on(event, (payload) => void seen.push({ event, payload: payload as Record<string, unknown> }));
  }
  await responder.start();
  await observer.start();
  return {
    behaviour,
    seen,
    about: (orderId, event) =>
      seen.filter((s) => s.payload.orderId === orderId && (event === undefined || s.event === event)),
    stop: async () => {
      await responder.stop();
      await observer.stop();
    },
  };
}
