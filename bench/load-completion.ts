/**
 * Observes order outcomes without polling: a Subscriber in its own consumer group on the saga's
 * terminal events, recording when each arrived here. Also seeds the user and product orders need.
 */
import { AllEvents } from "../src/contracts/index.js";
import { Subscriber } from "../src/lib/bus/subscriber.js";
import type { Transport } from "../src/lib/bus/transport.js";
import type { DriveResult } from "./load-driver.js";
import { type LatencyStats, latencyStats, sleep } from "./support.js";

export interface Outcomes {
  /** orderId → performance.now() when `order.shipment.prepared` arrived. */
  shipped: Map<string, number>;
  /** orderId → `order.failed` stage (or `cancelled`). */
  failed: Map<string, string>;
  /** orderId → performance.now() when `order.delivered` arrived (only when asked for). */
  delivered: Map<string, number>;
  stop(): Promise<void>;
}

/** Starts the bench's consumer group; call before placing orders so nothing is missed. */
export async function watchOutcomes(
  transport: Transport,
  group: string,
  /** Also watch `order.delivered` (one more stream read per order: off for the timed benchmarks). */
  options: { delivered?: boolean } = {},
): Promise<Outcomes> {
  const shipped = new Map<string, number>();
  const failed = new Map<string, string>();
  const delivered = new Map<string, number>();
  const subscriber = new Subscriber({
    events: AllEvents,
    transport,
    group,
    consumer: "bench",
    concurrency: 512,
    // It only times outcomes and changes nothing: unverified on purpose, without the start-up
    // warning that read like a defect of the system measured (newuser16 F6).
    verifier: null,
  });
  subscriber.on("order.shipment.prepared", ({ orderId }) => {
    if (!shipped.has(orderId)) shipped.set(orderId, performance.now());
  });
  subscriber.on("order.failed", ({ orderId, stage }) => {
    failed.set(orderId, stage);
  });
  subscriber.on("order.cancelled", ({ orderId }) => {
    failed.set(orderId, "cancelled");
  });
  if (options.delivered)
    subscriber.on("order.delivered", ({ orderId }) => {
      if (!delivered.has(orderId)) delivered.set(orderId, performance.now());
    });
  await subscriber.start();
  return { shipped, failed, delivered, stop: () => subscriber.stop() };
}

export interface CompletionResult {
  label: string;
  rate: number;
  offered: number;
  sent: number;
  accepted: number;
  /** Orders shipped while the load ran, per second of load. */
  completedPerSec: number;
  /** Orders shipped by the end of the drain window. */
  completed: number;
  /** Accepted orders neither shipped nor failed when the drain window closed. */
  incomplete: number;
  /** Orders that failed (`order.failed`/`order.cancelled`) plus POSTs that were not 202. */
  failures: number;
  httpFailures: Record<string, number>;
  /** 202 received → `order.shipment.prepared` observed. */
  placedToShipped: LatencyStats;
  /** POST sent → `order.shipment.prepared` observed. */
  sentToShipped: LatencyStats;
  /** POST sent → 202 received. */
  accept: LatencyStats;
}

/** Waits until every accepted order has an outcome, or `drainMs` passes. */
export async function drain(drive: DriveResult, outcomes: Outcomes, drainMs: number): Promise<void> {
  const until = performance.now() + drainMs;
  const open = () => {
    let n = 0;
    for (const id of drive.placed.keys()) if (!outcomes.shipped.has(id) && !outcomes.failed.has(id)) n++;
    return n;
  };
  while (open() > 0 && performance.now() < until) await sleep(50);
}

export function summarize(
  label: string,
  rate: number,
  drive: DriveResult,
  outcomes: Outcomes,
): CompletionResult {
  const loadEnd = drive.startedAt + drive.seconds * 1000;
  const placedToShipped: number[] = [];
  const sentToShipped: number[] = [];
  const accept: number[] = [];
  let completed = 0;
  let inWindow = 0;
  let failedOrders = 0;
  for (const [orderId, placed] of drive.placed) {
    accept.push(placed.acceptedAt - placed.sentAt);
    const at = outcomes.shipped.get(orderId);
    if (at !== undefined) {
      completed++;
      if (at <= loadEnd) inWindow++;
      // The event can beat the 202 back to the bench; such an order counts as 0 ms, not negative.
      placedToShipped.push(Math.max(0, at - placed.acceptedAt));
      sentToShipped.push(at - placed.sentAt);
    } else if (outcomes.failed.has(orderId)) failedOrders++;
  }
  const httpFailures = Object.values(drive.failures).reduce((a, b) => a + b, 0);
  return {
    label,
    rate,
    offered: drive.offered,
    sent: drive.sent,
    accepted: drive.accepted,
    completedPerSec: Math.round(inWindow / drive.seconds),
    completed,
    incomplete: drive.placed.size - completed - failedOrders,
    failures: failedOrders + httpFailures,
    httpFailures: drive.failures,
    placedToShipped: latencyStats(placedToShipped),
    sentToShipped: latencyStats(sentToShipped),
    accept: latencyStats(accept),
  };
}

/**
 * Kept up: everything offered was sent, accepted and shipped, nothing failed, and orders shipped
 * while the load ran at (nearly) the offered rate — not merely drained from a backlog afterwards.
 */
export function sustained(r: CompletionResult): boolean {
  return (
    r.failures === 0 &&
    r.incomplete === 0 &&
    r.completed >= r.offered * 0.99 &&
    r.sent >= r.offered &&
    r.completedPerSec >= r.rate * 0.95
  );
}

async function postJson(
  base: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(new URL(path, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

/** Creates a user and a product stocked far beyond any run; returns the POST /orders body. */
export async function seedOrderBody(gatewayUrl: string, tag: string): Promise<string> {
  const user = await postJson(gatewayUrl, "/users", { email: `load-${tag}@example.com`, name: "Load Bench" });
  const userId = (user.body as { id?: string }).id;
  if (user.status !== 201 || !userId)
    throw new Error(`POST /users → ${user.status} ${JSON.stringify(user.body)}`);
  const productId = `load-${tag}`;
  const product = await postJson(gatewayUrl, "/inventory", {
    productId,
    name: "load bench widget",
    price: 100,
    quantity: 1_000_000_000,
  });
  if (product.status !== 201)
    throw new Error(`POST /inventory → ${product.status} ${JSON.stringify(product.body)}`);
  return JSON.stringify({ userId, items: [{ productId, quantity: 1 }], payment: { token: "tok_ok" } });
}
