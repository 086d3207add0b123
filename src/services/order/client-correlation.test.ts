/**
 * Break35 F5: a client picked the saga's correlation id. The gateway forwards `x-correlation-id` and
 * the order service adopted it, so a client could give its order another customer's correlation id
 * and merge its logs and traces into that saga. The order service mints the saga's id; the 202
 * tells the client the one it minted (`X-Correlation-Id`).
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type OrderHarness, orderBody, startOrderService } from "./test-harness.js";

let order: OrderHarness | undefined;
let platform: Platform | undefined;

afterEach(async () => {
  await order?.stop();
  await platform?.close();
  order = platform = undefined;
});

const place = async (headers: Record<string, string>) => {
  const res = await fetch(`${order!.running.url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(orderBody()),
  });
  expect(res.status).toBe(202);
  const { orderId } = (await res.json()) as { orderId: string };
  const loaded = await order!.internals.runner.repository.load(orderId);
  return { orderId, correlationId: loaded?.state.correlationId, echoed: res.headers.get("x-correlation-id") };
};

describe("the saga's correlation id (break35 F5)", () => {
  it("is minted by the order service, not taken from the client's x-correlation-id", async () => {
    platform = createMemoryPlatform();
    order = await startOrderService(platform);
    const victim = await place({});
    expect(victim.correlationId).toBeDefined();
    // Another client names the victim's saga: its order gets a saga of its own.
    const other = await place({ "x-correlation-id": victim.correlationId! });
    expect(other.correlationId).toBeDefined();
    expect(other.correlationId).not.toBe(victim.correlationId);
    // Two orders with the same client value are two sagas.
    const again = await place({ "x-correlation-id": victim.correlationId! });
    expect(again.correlationId).not.toBe(other.correlationId);
    // The answer names the saga's id, the one its messages and log lines carry.
    expect(other.echoed).toBe(other.correlationId);
    expect(victim.echoed).toBe(victim.correlationId);
  }, 30_000);
});
