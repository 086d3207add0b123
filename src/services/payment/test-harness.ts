/**
 * Test harness of the payment service: the service on a platform, an observer of everything it
 * emits, a publisher playing the saga, and a provider that counts the calls reaching it.
 */
import { randomUUID } from "node:crypto";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createLogger } from "../../lib/observability/logger.js";
import type { Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { type ChargeRequest, type PaymentProvider, SimulatedPaymentProvider } from "./provider.js";
import { createPaymentService, type PaymentServiceOptions } from "./service.js";
import { tokenKeyStoreOf, tokenSealerFromEnv } from "../../lib/security/payment-token.js";

const OUTPUTS = [
  "payment.processed",
  "payment.failed",
  "payment.refund.requested",
  "payment.refunded",
  "payment.refund.skipped",
] as const;
type Output = (typeof OUTPUTS)[number];

/** A provider that counts the calls reaching it and the charges and refunds it actually made. */
export function countingProvider(inner = new SimulatedPaymentProvider()) {
  const calls = { charge: 0, refund: 0, charged: 0, refunded: 0 };
  const provider: PaymentProvider = {
    charge: async (request: ChargeRequest, signal?: AbortSignal) => {
      calls.charge++;
      const result = await inner.charge(request, signal);
      if (!result.replayed) calls.charged++;
      return result;
    },
    refund: async (request, signal) => {
      calls.refund++;
      const result = await inner.refund(request, signal);
      if (!result.replayed) calls.refunded++;
      return result;
    },
    retrieve: (kind, key, signal) => inner.retrieve(kind, key, signal),
    voidCharge: (key, signal) => inner.voidCharge(key, signal),
    list: (kind, page) => inner.list(kind, page),
  };
  return { provider, calls };
}

export interface Harness {
  running: RunningService;
  platform: Platform;
  logs: string[];
  events: { event: Output; payload: Record<string, unknown> }[];
  /** Plays the saga: a `payment.requested` given a plain `tok_…` token is sealed as the order service would. */
  saga: Pick<Publisher<typeof AllEvents>, "publish">;
  of(event: Output, orderId: string): Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * Starts the service on `platform`; `host.now` is the instance's own clock (a host whose clock is set
 * off: `() => Date.now() + skew`), default the process's.
 */
export async function start(
  platform: Platform,
  options: PaymentServiceOptions = {},
  host: { now?: () => number } = {},
): Promise<Harness> {
  const logs: string[] = [];
  const logger = createLogger({
    service: "payment",
    level: "debug",
    destination: { write: (l) => logs.push(l) },
  });
  const running = await startService(createPaymentService(options), {
    events: AllEvents,
    platform,
    port: 0,
    logger,
    ...(host.now ? { now: host.now } : {}),
  });
  const events: Harness["events"] = [];
  const group = `observer-${randomUUID()}`;
  const observer = new Subscriber({
    events: AllEvents,
    transport: platform.transport,
    group,
    consumer: "t",
  });
  for (const event of OUTPUTS) {
    observer.on(event, (payload) => {
      events.push({ event, payload: payload as Record<string, unknown> });
    });
  }
  await platform.transport.ensureGroups(group, observer.topics());
  await observer.start();
  const orderPublisher = new Publisher({
    events: AllEvents,
    transport: platform.transport,
    source: { service: "order", instance: "test" },
  });
  const sealer = tokenSealerFromEnv(tokenKeyStoreOf(platform));
  const saga: Harness["saga"] = {
    publish: async (event, payload, options) => {
      const p = payload as { orderId?: string; paymentToken?: string };
      if (event === "payment.requested" && p.orderId && p.paymentToken?.startsWith("tok_"))
        payload = {
          ...payload,
          paymentToken: await sealer.seal(p.orderId, p.paymentToken),
        } as typeof payload;
      return orderPublisher.publish(event, payload, options);
    },
  };
  return {
    running,
    platform,
    logs,
    events,
    saga,
    of: (event, orderId) =>
      events.filter((e) => e.event === event && e.payload.orderId === orderId).map((e) => e.payload),
    stop: async () => {
      await observer.stop();
      await running.stop();
      await platform.close();
    },
  };
}

export const request = (orderId: string, paymentToken: string, attempt = 1) => ({
  orderId,
  userId: "u-1",
  amount: 4200,
  currency: "USD",
  paymentToken,
  attempt,
});
export const refund = (orderId: string) => ({ orderId, reason: "saga timed out" });
