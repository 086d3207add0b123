/**
 * Effects done for an order the system no longer knows are undone (break12 F2). Order streams are
 * never deleted, and a step's command was written atomically with the order's events, so a step
 * reply (signed by its owner) for an order with no history means the order itself was lost: the
 * order's Redis lost its last writes (an `appendfsync everysec` crash, an async-replica failover)
 * after the command had been read. The step's owner still did its effect (charged, reserved,
 * booked): this publishes the compensation for it, once per (order, compensation).
 */
import type { Redis } from "ioredis";
import type { AllEvents, Compensation } from "../../contracts/index.js";
import type { CausalPublisher } from "../../lib/bus/context.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { OUTBOX_LUA, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import { lostReplyKey } from "./keys.js";

/** The step replies that report an effect, and the compensation that undoes it. Declines need nothing. */
export const LOST_REPLY_COMPENSATIONS = {
  "inventory.reserved": "inventory.release",
  "payment.processed": "payment.refund",
  "shipping.shipment.prepared": "shipment.cancel",
} as const satisfies Partial<Record<string, Compensation>>;

export type EffectReply = keyof typeof LOST_REPLY_COMPENSATIONS;

const COMMANDS = {
  "inventory.release": "order.compensation.inventory.release",
  "payment.refund": "order.compensation.payment.refund",
  "shipment.cancel": "order.compensation.shipment.cancel",
} as const satisfies Record<Compensation, string>;

export function isEffectReply(event: string): event is EffectReply {
  return Object.hasOwn(LOST_REPLY_COMPENSATIONS, event);
}

/**
 * The compensation a reply for a lost order calls for, or undefined (a decline needs nothing): an
 * effect reply's (LOST_REPLY_COMPENSATIONS), and a refund after a *transient* `payment.failed` (a
 * timeout, a lost answer), whose charge may still land at the provider, as the saga rules for a
 * live order (saga.ts onPaymentFailed): dropping it kept a late charge until the orphan-charge pass,
 * 10 min or more (break28 F1). The refund of an order with no charge voids its key (a no-op reply).
 */
export function lostReplyCompensation(event: string, payload: unknown): Compensation | undefined {
  if (isEffectReply(event)) return LOST_REPLY_COMPENSATIONS[event];
  const transient = (payload as { transient?: unknown } | undefined)?.transient;
  return event === "payment.failed" && transient === true ? "payment.refund" : undefined;
}

/** Publishes a command unless the same (order, compensation) was published before. */
export interface LostReplyOutbox {
  /** True when `message` was published now, false when an earlier delivery already published it. */
  publishOnce(orderId: string, compensation: Compensation, message: OutgoingMessage): Promise<boolean>;
}

// KEYS: marker, then the command's stream. ARGV: marker lifetime ms, then the body. The marker and
// the command in one step: a crash between them cannot leave one without the other.
// The marker last (README step 2's rule): a failing XADD (checked first by outbox) leaves no marker
// without its command, so the compensation is retried, not skipped as published (newuser17 F1).
const PUBLISH_ONCE = new LuaScript(`${OUTBOX_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
outbox(2, 2)
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`);

/**
 * Redis: marker and command written by one script in the `{order}` slot. The marker lives
 * `markerTtlMs` (the platform's dedupe-mark lifetime, 7 days by default): past every redelivery of
 * the reply; a later duplicate would find a compensation the owner already answers as done.
 */
export function redisLostReplyOutbox(redis: Redis, markerTtlMs: number): LostReplyOutbox {
  return {
    async publishOnce(orderId, compensation, message) {
      const { keys, bodies } = outboxArgs([message]);
      const done = await PUBLISH_ONCE.run(
        redis,
        [lostReplyKey(orderId, compensation), ...keys],
        [markerTtlMs, ...bodies],
      );
      return done === 1;
    },
  };
}

/** One process (in-memory platform): a set of what was published, then the bus. */
export function memoryLostReplyOutbox(send: (message: OutgoingMessage) => Promise<void>): LostReplyOutbox {
  const sent = new Set<string>();
  return {
    async publishOnce(orderId, compensation, message) {
      const key = lostReplyKey(orderId, compensation);
      if (sent.has(key)) return false;
      sent.add(key);
      try {
        await send(message);
      } catch (error) {
        sent.delete(key);
        throw error;
      }
      return true;
    },
  };
}

/** Called once per compensation published for a lost order (metrics, the error log). */
export type OnLostReply = (
  event: string,
  compensation: Compensation,
  orderId: string,
  published: boolean,
) => void;

/**
 * Publishes `compensation` (lostReplyCompensation of `event`) for a lost order through `outbox`,
 * prepared by the reply's context (correlation and causation carry on). Returns whether it was
 * published now.
 */
export async function compensateLostReply(
  outbox: LostReplyOutbox,
  event: string,
  compensation: Compensation,
  orderId: string,
  preparer: Pick<CausalPublisher<typeof AllEvents>, "prepare">,
): Promise<boolean> {
  const { message } = preparer.prepare(COMMANDS[compensation], {
    orderId,
    reason: `order lost (no history) after its ${event}: the effect is undone`,
  });
  return outbox.publishOnce(orderId, compensation, message);
}
