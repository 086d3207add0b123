/**
 * One run's orders, placed through the gateway with a seeded random mix (tokens, products,
 * quantities, cancels), and the snapshot the oracle checks, read back through the same API.
 */
import { randomUUID } from "node:crypto";
import type { ApiClient } from "../demo/client.js";
import { COMPLETED, ENDED, FINAL, type OrderSnapshot, type Snapshot } from "./oracle.js";

/** Deterministic uniform [0, 1) from a seed (mulberry32): a run is repeatable from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type TokenMix = Record<string, number>;

export const DEFAULT_MIX: TokenMix = {
  tok_ok: 6,
  tok_decline: 1,
  tok_error: 1,
  tok_flaky: 1,
  tok_late: 1,
};

export interface WorkloadOptions {
  orders: number;
  mix?: TokenMix;
  /** Share of orders cancelled right after placing (default 0.1). */
  cancelShare?: number;
  /** Product id prefix (e.g. `noship-`: the carrier refuses, so every paid order is refunded). */
  productPrefix?: string;
  /** Largest quantity per line (default 3). */
  maxQuantity?: number;
}

export interface Placed {
  orderIds: string[];
  /** Per order id: the payment token it was placed with, and whether the client cancelled it. */
  placements: Map<string, { token: string; cancelled: boolean }>;
  stocked: Map<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

function pickToken(random: () => number, mix: TokenMix): string {
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  let roll = random() * total;
  for (const [token, weight] of Object.entries(mix)) {
    roll -= weight;
    if (roll < 0) return token;
  }
  return "tok_ok";
}

/**
 * A careful client: a request that meets a fault (refused, 5xx while an instance restarts) is sent
 * again with backoff, up to about a minute; any other answer than `status` is an error.
 */
async function expectStatus<T>(
  call: () => Promise<{ status: number; body: T }>,
  status: number,
  what: string,
  /** Another answer that also means done (a retried create that had succeeded). */
  alsoDone?: number,
) {
  for (let attempt = 1; ; attempt++) {
    const res = await call().catch((error: unknown) => {
      if (attempt >= 30) throw error;
      return undefined;
    });
    if (res?.status === status || (res && res.status === alsoDone)) return res.body;
    if (res && (res.status < 500 || attempt >= 30)) {
      throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await sleep(Math.min(2_000, 100 * 2 ** attempt));
  }
}

/** A client retrying a request that met a fault (refused, 5xx) with the same Idempotency-Key. */
async function placeWithRetry(api: ApiClient, body: unknown): Promise<string> {
  const key = randomUUID();
  for (let attempt = 1; ; attempt++) {
    const res = await api
      .post<{ orderId: string }>("/orders", body, { "idempotency-key": key })
      .catch((error: unknown) => {
        if (attempt >= 30) throw error;
        return undefined; // refused while a process restarts: try again
      });
    if (res?.status === 202) return res.body.orderId;
    if (res && (res.status < 500 || attempt >= 30)) {
      throw new Error(`place order: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await sleep(Math.min(2_000, 100 * 2 ** attempt));
  }
}

/** The run's user and products (before any fault is injected). */
export interface RunSetup {
  userId: string;
  products: string[];
  stocked: Map<string, number>;
}

export async function setupRun(
  api: ApiClient,
  random: () => number,
  options: WorkloadOptions,
): Promise<RunSetup> {
  const user = await expectStatus(
    // A new address each time: a retried create that had succeeded must not meet its own email.
    () =>
      api.post<{ id: string }>("/users", {
        email: `chaos-${randomUUID()}@example.com`,
        name: "Chaos Monkey",
      }),
    201,
    "create user",
  );
  const stocked = new Map<string, number>();
  const products: string[] = [];
  for (let i = 0; i < 2; i++) {
    const productId = `${options.productPrefix ?? "chaos-"}${randomUUID().slice(0, 8)}`;
    const quantity = 4 + Math.floor(random() * 6);
    const price = 100 + Math.floor(random() * 5_000);
    await expectStatus(
      () => api.post("/inventory", { productId, name: productId, price, quantity }),
      201,
      "add product",
      409,
    );
    stocked.set(productId, quantity);
    products.push(productId);
  }
  return { userId: user.id, products, stocked };
}

/** Places (and sometimes cancels) the run's orders, retrying through faults like a careful client. */
export async function placeOrders(
  api: ApiClient,
  random: () => number,
  options: WorkloadOptions,
  setup: RunSetup,
): Promise<Placed> {
  const { products, stocked } = setup;
  const placements = Array.from({ length: options.orders }, () => {
    const first = pick(random, products);
    const lines = random() < 0.3 ? products : [first];
    const items = lines.map((productId) => ({
      productId,
      quantity: 1 + Math.floor(random() * (options.maxQuantity ?? 3)),
    }));
    return {
      items,
      token: pickToken(random, options.mix ?? DEFAULT_MIX),
      cancel: random() < (options.cancelShare ?? 0.1),
    };
  });
  const placedAs = new Map<string, { token: string; cancelled: boolean }>();
  const orderIds = await Promise.all(
    placements.map(async ({ items, token, cancel }) => {
      const orderId = await placeWithRetry(api, { userId: setup.userId, items, payment: { token } });
      placedAs.set(orderId, { token, cancelled: cancel });
      if (cancel) await api.post(`/orders/${orderId}/cancel`).catch(() => undefined);
      return orderId;
    }),
  );
  return { orderIds, placements: placedAs, stocked };
}

/** Reads every order; a service that is down (5xx, refused) reads as unknown, not as an error. */
async function readOrder(api: ApiClient, orderId: string): Promise<OrderSnapshot> {
  const safe = async <T>(path: string, fallback: T): Promise<T> => {
    try {
      const res = await api.get<T>(path);
      return res.status === 200 ? res.body : fallback;
    } catch {
      return fallback;
    }
  };
  const [order, payment, notes, history] = await Promise.all([
    safe<{ status?: string; total?: number | null }>(`/orders/${orderId}`, {}),
    safe<{ provider?: { charged: number; refunded: number } }>(`/payments/${orderId}`, {}),
    safe<{ notifications?: { template: string; channel: string; status?: string }[] }>(
      `/notifications?orderId=${orderId}`,
      {},
    ),
    safe<{ events?: { type: string; data: Record<string, unknown> }[] }>(`/orders/${orderId}/events`, {}),
  ]);
  return {
    orderId,
    status: order.status,
    total: order.total ?? null,
    provider: payment.provider ?? { charged: 0, refunded: 0 },
    notifications: (notes.notifications ?? []).filter((n) => n.status !== "failed"),
    history: history.events ?? [],
  };
}

export async function snapshot(api: ApiClient, placed: Placed): Promise<Snapshot> {
  const orders = await Promise.all(placed.orderIds.map((id) => readOrder(api, id)));
  const stock = await Promise.all(
    [...placed.stocked].map(async ([productId, stockedUnits]) => {
      const res = await api.get<{ available: number; reserved: number; committed: number }>(
        `/inventory/${productId}`,
      );
      const p = res.status === 200 ? res.body : { available: -1, reserved: -1, committed: -1 };
      return {
        productId,
        stocked: stockedUnits,
        available: p.available,
        reserved: p.reserved,
        committed: p.committed,
      };
    }),
  );
  const ids = new Set(placed.orderIds);
  const reconciliation = (await reconciliationMismatches(api)).filter(
    (m) => ids.has(m.orderId) || m.orderId === "*",
  );
  return { orders, stock, reconciliation };
}

/** Every page of `GET /payments/reconciliation`; one `*` mismatch when a page cannot be read. */
async function reconciliationMismatches(api: ApiClient): Promise<{ orderId: string; reason: string }[]> {
  const mismatches: { orderId: string; reason: string }[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const rec = await api
      .get<{ mismatches?: { orderId: string; reason: string }[]; nextCursor?: string }>(
        `/payments/reconciliation?limit=500${cursor ? `&cursor=${cursor}` : ""}`,
      )
      .catch(() => undefined);
    if (rec?.status !== 200) return [{ orderId: "*", reason: "unreadable" }];
    mismatches.push(...(rec.body.mismatches ?? []));
    cursor = rec.body.nextCursor;
    if (!cursor) return mismatches;
  }
  return [...mismatches, { orderId: "*", reason: "too many pages" }];
}

/** Whether the run looks settled: every order final (delivered, not just shipped), its money and stock at rest. */
const settled = (s: Snapshot): boolean =>
  s.orders.every((o) => {
    if (!o.status || !FINAL.includes(o.status)) return false;
    const net = o.provider.charged - o.provider.refunded;
    return COMPLETED.includes(o.status) ? net === o.total : ENDED.includes(o.status) ? net === 0 : true;
  }) &&
  s.stock.every((p) => p.reserved === 0) &&
  s.reconciliation.length === 0;

/**
 * Polls until the run settled or `timeoutMs` passed; returns the last snapshot either way (the oracle
 * then names what did not settle). Bounded: one read every `intervalMs`.
 */
export async function settle(
  api: ApiClient,
  placed: Placed,
  timeoutMs: number,
  intervalMs = 500,
): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await snapshot(api, placed);
    if (settled(s) || Date.now() > deadline) return s;
    await sleep(intervalMs);
  }
}
