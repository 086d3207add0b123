/**
 * The saga commands inventory answers. Each handler lets the store decide and write state and
 * reply atomically; a redelivery finds the order's reservation already settled and emits nothing.
 *
 * Release and commit are idempotent by their record, at any age (`dedupedBy: "record"`, so an
 * operator's DLQ retry a week later runs instead of being refused as too old to deduplicate): they
 * move stock only out of a `reserved` reservation, which is kept (no TTL) for as long as it holds
 * stock, and leave it in the same atomic step. Once settled it never holds stock again, and when
 * the settled reservation (then only a mark) has expired, a late release leaves a fresh tombstone
 * and a late commit does nothing: no stock moves either way. A reservation request is not: replayed
 * after its order's marks expired it would reserve stock for an order long over, so it keeps the
 * dedupe window.
 */
import type { AllEvents, CompensationSkipOutcome } from "../../contracts/index.js";
import { BusError } from "../../lib/bus/errors.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import { InventoryError, type ReleaseDecision } from "./domain.js";
import { committedMessages, releasedMessages, reservationMessages } from "./messages.js";
import type { InventoryStore } from "./store.js";

type Events = typeof AllEvents;

/** Contention is transient (the bus retries with backoff); anything else is a bug worth parking. */
async function asBusErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof InventoryError) {
      throw new BusError(`INVENTORY_${error.code}`, error.message, {
        retryable: error.retryable,
        cause: error,
      });
    }
    throw error;
  }
}

/** A release that moved no stock still answers, so the saga can stop waiting for it. */
function skipOf(decision: ReleaseDecision): { outcome: CompensationSkipOutcome; reason: string } | undefined {
  if (decision.kind === "release") return undefined;
  if (decision.kind === "tombstone") return { outcome: "nothing_to_undo", reason: "nothing was reserved" };
  if (decision.state === "released")
    return { outcome: "already_done", reason: "reservation already released" };
  // Committed stock belongs to a completed order: past the point of no return.
  if (decision.state === "committed") return { outcome: "too_late", reason: "reservation already committed" };
  return { outcome: "nothing_to_undo", reason: `reservation ${decision.state}` };
}

export function registerInventoryHandlers(
  subscriber: Subscriber<Events, Events>,
  store: InventoryStore,
): void {
  subscriber.on("inventory.reservation.requested", async ({ orderId, items }, ctx) => {
    const decision = await asBusErrors(() =>
      store.reserve(orderId, items, (outcome) => reservationMessages(ctx.prepare, orderId, outcome)),
    );
    ctx.logger.debug({ orderId, outcome: decision.kind }, "reservation handled");
  });

  subscriber.on(
    "order.compensation.inventory.release",
    async ({ orderId, reason }, ctx) => {
      const decision = await asBusErrors(() =>
        store.release(orderId, (lines) => releasedMessages(ctx.prepare, orderId, lines)),
      );
      ctx.logger.debug({ orderId, reason, outcome: decision.kind }, "release handled");
      // Published after the write, not in it: a crash in between redelivers the command, which finds
      // the same state and answers again (the saga ignores a second answer).
      const skipped = skipOf(decision);
      if (skipped) await ctx.publish("inventory.release.skipped", { orderId, ...skipped });
    },
    // A compensation must happen: retried through outages for hours, never dead-lettered early.
    // Decided from the reservation, not from an expiring mark (`dedupedBy: "record"`): see below.
    { policy: "must-complete", dedupedBy: "record" },
  );

  subscriber.on(
    "inventory.commit.requested",
    async ({ orderId }, ctx) => {
      const decision = await asBusErrors(() =>
        store.commit(orderId, (lines) => committedMessages(ctx.prepare, orderId, lines)),
      );
      ctx.logger.debug({ orderId, outcome: decision.kind }, "commit handled");
    },
    // After the pivot the saga only goes forward (docs/saga.md): a commit that meets an outage
    // waits it out like a compensation does; three quick failures must not leave stock reserved.
    { policy: "must-complete", dedupedBy: "record" },
  );
}
