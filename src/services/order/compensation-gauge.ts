/**
 * `ordersaga_saga_compensations_pending`, derived from durable state at scrape time (break13 F4):
 * the orders still in the deadline index (running sagas, and failed or cancelled ones until their
 * last compensation is confirmed), each folded from the event store, summing the compensations
 * requested and not yet settled. A restarted instance shows the truth at once, every instance shows
 * the same number (aggregate with `max`, not `sum`), and it can never be negative. Orders moved to
 * `compensation_failed` leave the index (an operator's case: `order_compensation_failed_total`).
 */
import type { OrderRepository } from "./repository.js";
import { pendingCompensations } from "./state.js";
import type { DeadlineIndex } from "./store.js";

/** At most this many in-flight orders are read per scrape; beyond, the count is a lower bound. */
export const PENDING_SCAN_LIMIT = 5_000;
const BATCH = 50;

export async function countPendingCompensations(
  deadlines: Pick<DeadlineIndex, "due">,
  repository: Pick<OrderRepository, "load">,
  limit: number = PENDING_SCAN_LIMIT,
): Promise<number> {
  const ids = await deadlines.due(Number.MAX_SAFE_INTEGER, limit);
  let pending = 0;
  for (let i = 0; i < ids.length; i += BATCH) {
    const loaded = await Promise.all(ids.slice(i, i + BATCH).map((id) => repository.load(id)));
    for (const order of loaded) if (order) pending += pendingCompensations(order.state).length;
  }
  return pending;
}
