/**
 * The spec's five demo scenarios, run against the gateway's HTTP API. Each returns what happened
 * and whether it ended as expected; the runner prints them and the tests assert them.
 */
import { errorWithCauses } from "../lib/runtime/launch-signal.js";
import type { ApiClient } from "./client.js";

export interface OrderView {
  id: string;
  userId: string;
  items: { productId: string; quantity: number; unitPrice: number | null }[];
  total: number | null;
  status: string;
  createdAt: string;
  updatedAt: string;
}

export interface Product {
  productId: string;
  name: string;
  price: number;
  available: number;
  reserved: number;
}

interface HistoryEvent {
  type: string;
  version: number;
  time: string;
  data: Record<string, unknown>;
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  /** Human-readable timeline lines. */
  lines: string[];
  failures: string[];
}

export interface ScenarioContext {
  api: ApiClient;
  /** Unique per run, so reruns against one Redis do not collide. */
  runId: string;
  /** How long to wait for an order to reach a state. */
  timeoutMs: number;
}

export const SLOW_PRODUCT_ID = "slowship-gift-wrap";

class Scenario {
  readonly lines: string[] = [];
  readonly failures: string[] = [];

  constructor(readonly name: string) {}

  say(line: string): void {
    this.lines.push(line);
  }

  expect(condition: boolean, what: string): void {
    this.lines.push(`${condition ? "✔" : "✘"} ${what}`);
    if (!condition) this.failures.push(what);
  }

  result(): ScenarioResult {
    return { name: this.name, ok: this.failures.length === 0, lines: this.lines, failures: this.failures };
  }
}

async function waitForStatus(
  ctx: ScenarioContext,
  orderId: string,
  statuses: readonly string[],
): Promise<OrderView | undefined> {
  const deadline = Date.now() + ctx.timeoutMs;
  let last: OrderView | undefined;
  while (Date.now() < deadline) {
    const res = await ctx.api.get<OrderView>(`/orders/${orderId}`);
    if (res.status === 200) {
      last = res.body;
      if (statuses.includes(last.status)) return last;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return last;
}

async function product(ctx: ScenarioContext, productId: string): Promise<Product> {
  return (await ctx.api.get<Product>(`/inventory/${productId}`)).body;
}

/** Stock settles a moment after the order's status (the compensation or commit is its own event). */
async function settledProduct(
  ctx: ScenarioContext,
  productId: string,
  settled: (p: Product) => boolean,
): Promise<Product> {
  const deadline = Date.now() + ctx.timeoutMs;
  let current = await product(ctx, productId);
  while (!settled(current) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    current = await product(ctx, productId);
  }
  return current;
}

async function timeline(ctx: ScenarioContext, s: Scenario, orderId: string): Promise<HistoryEvent[]> {
  const res = await ctx.api.get<{ events: HistoryEvent[] }>(`/orders/${orderId}/events`);
  const events = res.body.events ?? [];
  const start = events[0] ? Date.parse(events[0].time) : 0;
  for (const e of events) {
    const change =
      e.type === "order.event.status.changed"
        ? `  ${String(e.data.from)} → ${String(e.data.to)}${e.data.reason ? ` (${String(e.data.reason)})` : ""}`
        : "";
    s.say(`    +${String(Date.parse(e.time) - start).padStart(4)} ms  v${e.version} ${e.type}${change}`);
  }
  return events;
}

async function createUser(ctx: ScenarioContext, name: string): Promise<string> {
  const res = await ctx.api.post<{ id: string }>("/users", {
    email: `${name.toLowerCase()}+${ctx.runId}@example.com`,
    name,
  });
  if (res.status !== 201) throw new Error(`could not create user: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** The in-stock product the order scenarios buy (the first one with room to spare). */
async function pickProduct(ctx: ScenarioContext): Promise<Product> {
  const res = await ctx.api.get<{ products: Product[] }>("/inventory");
  const found = res.body.products.find((p) => p.available >= 10 && !p.productId.startsWith("slowship-"));
  if (!found) throw new Error("no product with stock ≥ 10 in the catalog");
  return found;
}

export async function userRegistration(ctx: ScenarioContext): Promise<ScenarioResult> {
  const s = new Scenario("1. User registration");
  const email = `ada+${ctx.runId}@example.com`;
  const created = await ctx.api.post<{ id: string; email: string }>("/users", {
    email,
    name: "Ada Lovelace",
    preferences: { email: true, push: true },
  });
  s.expect(created.status === 201, `POST /users → 201 (user ${created.body.id})`);
  const fetched = await ctx.api.get<{ email: string }>(`/users/${created.body.id}`);
  s.expect(fetched.status === 200 && fetched.body.email === email, "GET /users/:id returns the user");
  const dup = await ctx.api.post<{ error: { code: string } }>("/users", { email, name: "Ada again" });
  s.expect(dup.status === 409, `the same email again → ${dup.status} ${dup.body.error?.code ?? ""}`);
  const bad = await ctx.api.post<{ error: { code: string; details: { path: string }[] } }>("/users", {
    email: "not-an-email",
    name: "",
  });
  s.expect(
    bad.status === 400,
    `invalid input → 400 with issues at ${bad.body.error?.details?.map((d) => d.path).join(", ")}`,
  );
  return s.result();
}

export async function successfulOrder(ctx: ScenarioContext): Promise<ScenarioResult> {
  const s = new Scenario("2. Successful order (saga completes)");
  const userId = await createUser(ctx, "Grace");
  const item = await pickProduct(ctx);
  const placed = await ctx.api.post<{ orderId: string; status: string }>("/orders", {
    userId,
    items: [{ productId: item.productId, quantity: 2 }],
    payment: { token: "tok_ok" },
  });
  s.expect(
    placed.status === 202 && placed.body.status === "pending",
    `POST /orders → 202 pending (order ${placed.body.orderId})`,
  );
  const order = await waitForStatus(ctx, placed.body.orderId, ["shipped", "delivered"]);
  s.expect(
    order !== undefined && ["shipped", "delivered"].includes(order.status),
    `order reached ${order?.status} with total ${order?.total}`,
  );
  s.expect(order?.total === item.price * 2, "the total was priced from the catalog");
  await timeline(ctx, s, placed.body.orderId);
  const after = await settledProduct(ctx, item.productId, (p) => p.reserved === item.reserved);
  s.expect(
    after.available === item.available - 2 && after.reserved === item.reserved,
    `stock committed: ${item.available} → ${after.available} available`,
  );
  return s.result();
}

export async function failedOrderWithCompensation(ctx: ScenarioContext): Promise<ScenarioResult> {
  const s = new Scenario("3. Failed order with compensation (payment declined)");
  const userId = await createUser(ctx, "Alan");
  const item = await pickProduct(ctx);
  const placed = await ctx.api.post<{ orderId: string }>("/orders", {
    userId,
    items: [{ productId: item.productId, quantity: 3 }],
    payment: { token: "tok_decline" },
  });
  s.expect(placed.status === 202, `POST /orders with a declining card → 202 (order ${placed.body.orderId})`);
  const order = await waitForStatus(ctx, placed.body.orderId, ["failed"]);
  s.expect(order?.status === "failed", `order ended ${order?.status}`);
  const events = await timeline(ctx, s, placed.body.orderId);
  s.expect(
    events.some((e) => e.data.to === "reserved"),
    "stock had been reserved before payment",
  );
  const after = await settledProduct(ctx, item.productId, (p) => p.available === item.available);
  s.expect(
    after.available === item.available && after.reserved === item.reserved,
    `reservation released: ${after.available} available, ${after.reserved} reserved`,
  );
  return s.result();
}

export async function orderCancellation(ctx: ScenarioContext): Promise<ScenarioResult> {
  const s = new Scenario("4. Order cancellation (compensates every step done)");
  const userId = await createUser(ctx, "Edsger");
  // A product the simulated carrier is slow to ship: the order waits at "paid" long enough to cancel.
  const add = await ctx.api.post("/inventory", {
    productId: SLOW_PRODUCT_ID,
    name: "Gift wrap (slow to ship)",
    price: 499,
    quantity: 1000,
  });
  s.expect(add.status === 201 || add.status === 409, `slow-shipping product ready (${add.status})`);
  const before = await product(ctx, SLOW_PRODUCT_ID);
  const placed = await ctx.api.post<{ orderId: string }>("/orders", {
    userId,
    items: [{ productId: SLOW_PRODUCT_ID, quantity: 1 }],
    payment: { token: "tok_ok" },
  });
  const paid = await waitForStatus(ctx, placed.body.orderId, ["paid"]);
  s.expect(paid?.status === "paid", `order ${placed.body.orderId} is paid, shipment pending`);
  const cancel = await ctx.api.post<{ status: string }>(`/orders/${placed.body.orderId}/cancel`);
  s.expect(cancel.status === 202, `POST /orders/:id/cancel → ${cancel.status}`);
  const order = await waitForStatus(ctx, placed.body.orderId, ["cancelled"]);
  s.expect(order?.status === "cancelled", `order ended ${order?.status}`);
  await timeline(ctx, s, placed.body.orderId);
  const again = await ctx.api.post(`/orders/${placed.body.orderId}/cancel`);
  s.expect(again.status === 409, `cancelling again → ${again.status}`);
  const after = await settledProduct(ctx, SLOW_PRODUCT_ID, (p) => p.available === before.available);
  s.expect(
    after.available === before.available,
    `stock restored to ${after.available} (payment refunded, reservation released)`,
  );
  return s.result();
}

export async function idempotencyHandling(ctx: ScenarioContext): Promise<ScenarioResult> {
  const s = new Scenario("5. Idempotency handling");
  const userId = await createUser(ctx, "Barbara");
  const item = await pickProduct(ctx);
  const body = { userId, items: [{ productId: item.productId, quantity: 1 }], payment: { token: "tok_ok" } };
  const key = `demo-${ctx.runId}`;
  const first = await ctx.api.post<{ orderId: string }>("/orders", body, { "idempotency-key": key });
  const retry = await ctx.api.post<{ orderId: string }>("/orders", body, { "idempotency-key": key });
  s.expect(
    first.status === 202 && retry.status === 202,
    "the same request twice with one Idempotency-Key → 202 both times",
  );
  s.expect(first.body.orderId === retry.body.orderId, `…and one order (${first.body.orderId})`);
  const misuse = await ctx.api.post<{ error: { code: string } }>(
    "/orders",
    { ...body, items: [{ productId: item.productId, quantity: 5 }] },
    { "idempotency-key": key },
  );
  s.expect(
    misuse.status === 422,
    `the key with a different body → ${misuse.status} ${misuse.body.error?.code ?? ""}`,
  );
  const order = await waitForStatus(ctx, first.body.orderId, ["shipped", "delivered"]);
  s.expect(order !== undefined, `order reached ${order?.status}`);
  const after = await settledProduct(ctx, item.productId, (p) => p.reserved === item.reserved);
  s.expect(
    after.available === item.available - 1,
    `stock taken once: ${item.available} → ${after.available}`,
  );
  return s.result();
}

export const SCENARIOS = [
  userRegistration,
  successfulOrder,
  failedOrderWithCompensation,
  orderCancellation,
  idempotencyHandling,
] as const;

/**
 * The label of a scenario that threw before naming itself: its number and its function's name in
 * words ("2. Successful order"), as the report lists the others (new-user finding F7).
 */
export function scenarioLabel(index: number, functionName: string): string {
  const words = functionName.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return `${index + 1}. ${words.charAt(0).toUpperCase()}${words.slice(1)}`;
}

export async function runScenarios(ctx: ScenarioContext): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const [index, scenario] of SCENARIOS.entries()) {
    try {
      results.push(await scenario(ctx));
    } catch (error) {
      results.push({
        name: scenarioLabel(index, scenario.name),
        ok: false,
        lines: [],
        failures: [`threw: ${errorWithCauses(error)}`],
      });
    }
  }
  return results;
}
