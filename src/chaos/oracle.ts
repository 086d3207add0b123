/**
 * The fault suite's oracle (DESIGN.md §6): four invariants checked over every order a run placed,
 * from what the system shows through its API. Pure: the snapshot comes in already read.
 *
 * - I-terminal: every accepted order ended: delivered, failed or cancelled. `shipped` is not an
 *   end: shipping delivers it after SHIPPING_DELIVERY_DELAY_MS, so one still shipped after the
 *   drain shows a stalled delivery (break-svc F1: one corrupt record stopped every delivery).
 * - I-stock: per product, available + reserved + committed = what was stocked, none negative, and
 *   nothing left reserved once every order settled (a leaked reservation).
 * - I-money: the provider's charged − refunded equals the total of a completed/delivered order and 0
 *   for a failed/cancelled one, and the payment reconciliation lists nothing for the run's orders.
 * - I-once: one notification per fact and channel, one of each step result and one terminal decision
 *   in an order's history (one charge per order is the provider ledger's key: checked by I-money).
 */

export const INVARIANTS = ["I-terminal", "I-stock", "I-money", "I-once"] as const;
export type Invariant = (typeof INVARIANTS)[number];

export const COMPLETED = ["shipped", "delivered"];
export const ENDED = ["failed", "cancelled"];
export const TERMINAL = [...COMPLETED, ...ENDED];
/** Where every order must be once the run drained (I-terminal). */
export const FINAL = ["delivered", ...ENDED];

export interface OrderSnapshot {
  orderId: string;
  /** Undefined when `GET /orders/:id` did not answer 200. */
  status: string | undefined;
  total: number | null;
  provider: { charged: number; refunded: number };
  notifications: { template: string; channel: string }[];
  history: { type: string; data: Record<string, unknown> }[];
}

export interface StockSnapshot {
  productId: string;
  /** Units the run put in (initial stock plus restocks). */
  stocked: number;
  available: number;
  reserved: number;
  committed: number;
}

export interface Snapshot {
  orders: OrderSnapshot[];
  stock: StockSnapshot[];
  /** Order ids the payment reconciliation lists (restricted by the caller to the run's orders). */
  reconciliation: { orderId: string; reason: string }[];
}

export type Verdict = Record<Invariant, string[]>;

function terminal(snapshot: Snapshot): string[] {
  return snapshot.orders
    .filter((o) => !o.status || !FINAL.includes(o.status))
    .map((o) => `${o.orderId} is ${o.status ?? "unknown"}`);
}

function stock(snapshot: Snapshot): string[] {
  return snapshot.stock.flatMap((p) => {
    const problems: string[] = [];
    const sum = p.available + p.reserved + p.committed;
    if (sum !== p.stocked) problems.push(`${p.productId}: ${sum} units accounted, ${p.stocked} stocked`);
    if (Math.min(p.available, p.reserved, p.committed) < 0) problems.push(`${p.productId}: a negative level`);
    if (p.reserved !== 0)
      problems.push(`${p.productId}: ${p.reserved} still reserved after every order settled`);
    return problems;
  });
}

function money(snapshot: Snapshot): string[] {
  const problems = snapshot.orders.flatMap((o) => {
    const net = o.provider.charged - o.provider.refunded;
    if (o.status && COMPLETED.includes(o.status) && net !== o.total)
      return [`${o.orderId} ${o.status}: provider holds ${net}, total ${o.total ?? "?"}`];
    if (o.status && ENDED.includes(o.status) && net !== 0)
      return [`${o.orderId} ${o.status}: provider holds ${net}`];
    return [];
  });
  return [...problems, ...snapshot.reconciliation.map((m) => `reconciliation: ${m.orderId}: ${m.reason}`)];
}

const countBy = <T>(items: readonly T[], key: (item: T) => string): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};

function once(snapshot: Snapshot): string[] {
  return snapshot.orders.flatMap((o) => {
    const twice = (counts: Map<string, number>, what: string) =>
      [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${o.orderId}: ${n} × ${what} ${k}`);
    const steps = o.history.filter((e) => e.type === "order.event.step.completed");
    const terminalChanges = o.history.filter(
      (e) => e.type === "order.event.status.changed" && TERMINAL.includes(String(e.data.to)),
    );
    return [
      ...twice(
        countBy(o.notifications, (n) => `${n.template}/${n.channel}`),
        "notification",
      ),
      ...twice(
        countBy(steps, (e) => String(e.data.step)),
        "step result",
      ),
      // A `compensation_failed` order settled later returns to the status it ended with: that is
      // the same end, resolved, not a second decision.
      ...(terminalChanges.filter(
        (e) => ENDED.includes(String(e.data.to)) && e.data.from !== "compensation_failed",
      ).length > 1
        ? [`${o.orderId}: ended twice`]
        : []),
      ...twice(
        countBy(
          o.history.filter((e) => e.type === "order.event.compensation.requested"),
          () => "requested",
        ),
        "compensation",
      ),
    ];
  });
}

export function check(snapshot: Snapshot): Verdict {
  return {
    "I-terminal": terminal(snapshot),
    "I-stock": stock(snapshot),
    "I-money": money(snapshot),
    "I-once": once(snapshot),
  };
}

export const holds = (verdict: Verdict): boolean => INVARIANTS.every((i) => verdict[i].length === 0);

/** Why an order failed: the reason of its history's transition to `failed` (undefined otherwise). */
export function failureReason(order: OrderSnapshot): string | undefined {
  const failed = order.history.find((e) => e.type === "order.event.status.changed" && e.data.to === "failed");
  return typeof failed?.data.reason === "string" ? failed.data.reason : undefined;
}

/**
 * Issue 8 input 3: card errors do not hurt good orders while the provider is up. Every `tok_ok`
 * order the client did not cancel completes, unless it failed for a reason of its own that is not
 * the payment (stock, the order total); and at least one did complete, or the run showed nothing.
 */
export function goodCardsComplete(
  snapshot: Snapshot,
  placements: ReadonlyMap<string, { token: string; cancelled: boolean }>,
): string[] {
  const good = snapshot.orders.filter((o) => {
    const placed = placements.get(o.orderId);
    return placed?.token === "tok_ok" && !placed.cancelled;
  });
  const problems = good
    .filter((o) => !COMPLETED.includes(o.status ?? ""))
    .filter(
      (o) => o.status !== "failed" || /payment|timed out|provider|card/i.test(failureReason(o) ?? "payment"),
    )
    .map(
      (o) => `tok_ok order ${o.orderId} is ${o.status ?? "unreadable"}: ${failureReason(o) ?? "no reason"}`,
    );
  if (good.length > 0 && !good.some((o) => COMPLETED.includes(o.status ?? "")))
    problems.push(`none of the ${good.length} tok_ok orders completed beside the card errors`);
  return problems;
}
