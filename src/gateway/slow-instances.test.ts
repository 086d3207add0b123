/**
 * Break17 F2/F6 over real HTTP: a slow answer is not a dead instance. A timeout is kept in the
 * gateway that saw it (breaker, a short avoid-list), never written into the shared registry; a
 * request safe to resend goes to another instance, also while the registry cannot be read; when
 * every instance is avoided the one that failed longest ago is still tried; and a keyed write that
 * timed out is answered 504 saying it may have been applied and that the same key resends safely.
 */
import { describe, expect, it } from "vitest";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import type { ServiceInstance } from "../lib/discovery/types.js";
import { orderBody } from "../services/order/test-harness.js";
import { startTestUpstream, type TestGateway, useTestGateway } from "./test-upstream.js";

/** A registry that can become unreadable (Redis paused or down), as the gateway sees it. */
class FlakyRegistry extends MemoryServiceRegistry {
  down = false;
  override async list(service?: string): Promise<ServiceInstance[]> {
    if (this.down) throw new Error("registry unreachable");
    return super.list(service);
  }
}

const harness = useTestGateway();

const hangs = () => ({ status: 200, hang: true });

function keyedOrder(gateway: TestGateway, key: string): Promise<Response> {
  return fetch(`${gateway.url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(orderBody()),
    signal: AbortSignal.timeout(20_000),
  });
}

describe("an instance that is slow, not dead", () => {
  it("sends keyed POSTs past a frozen instance to a live one while the registry is unreadable, and marks nothing", async () => {
    const registry = new FlakyRegistry();
    const gw = await harness.start({ registry, upstreamTimeoutMs: 3_000 });
    // Sorted by id, the frozen one is first in turn.
    const frozen = await startTestUpstream(registry, "order", "order-a-frozen", hangs);
    const live = await startTestUpstream(registry, "order", "order-b-live");
    harness.closeAfter(frozen, live);
    expect((await fetch(`${gw.url}/orders/o-1`)).status).toBe(200); // the list is known
    registry.down = true;
    for (const key of ["k-1", "k-2", "k-3"]) {
      const res = await keyedOrder(gw, key);
      // It was 503 "cannot be verified ... retry shortly" at once, no other instance tried.
      expect(res.status).toBe(200);
      expect(((await res.json()) as { servedBy: string }).servedBy).toBe("order-b-live");
    }
    expect(frozen.hits.length).toBeGreaterThanOrEqual(1);
    registry.down = false;
    expect((await registry.get("order", "order-a-frozen"))?.status).toBe("healthy");
  }, 30_000);

  it("answers a keyed POST the only (frozen) instance had 504, saying it may be applied and the same key resends safely", async () => {
    const registry = new FlakyRegistry();
    const gw = await harness.start({ registry, upstreamTimeoutMs: 1_500 });
    const frozen = await startTestUpstream(registry, "order", "order-a", hangs);
    harness.closeAfter(frozen);
    expect((await fetch(`${gw.url}/orders/o-1`)).status).toBe(504); // the list is known
    registry.down = true;
    const res = await keyedOrder(gw, "k-unknown");
    const { error } = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
    // It was 503 SERVICE_UNAVAILABLE "retry shortly", read as "not done", though the write applied.
    expect({ status: res.status, code: error.code }).toEqual({ status: 504, code: "UPSTREAM_TIMEOUT" });
    expect(error.message).toMatch(/may or may not have been applied/);
    expect(error.message).toMatch(/same Idempotency-Key is safe/);
    expect(error.details).toMatchObject({ outcome: "unknown" });
    expect(frozen.hits.filter((hit) => hit.method === "POST")).toHaveLength(1);
  }, 30_000);

  it("still tries the only instance after it timed out and its breaker opened, instead of answering 503", async () => {
    const gw = await harness.start({ upstreamTimeoutMs: 1_000, breaker: { failureThreshold: 1 } });
    const only = await harness.upstream("inventory", "inv-only", hangs);
    expect((await fetch(`${gw.url}/inventory/p-1`)).status).toBe(504);
    expect(gw.gateway.proxy.breakerFor(only.instance).state).toBe("OPEN");
    // Its slowness is over: the next request reaches it (it was 503 "No healthy instance" for as
    // long as the breaker stayed open, and until a health check passed once it was marked).
    only.answer(() => ({ status: 200, body: { servedBy: "inv-only" } }));
    const res = await fetch(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(200);
    expect(gw.gateway.proxy.breakerFor(only.instance).state).toBe("CLOSED");
    expect((await gw.registry.get("inventory", "inv-only"))?.status).toBe("healthy");
  }, 30_000);

  it("sends one trial at a time to an avoided frozen instance: the requests meanwhile get 503 at once (break18 F3)", async () => {
    const gw = await harness.start({ upstreamTimeoutMs: 1_500, breaker: { failureThreshold: 1 } });
    const only = await harness.upstream("inventory", "inv-frozen", hangs);
    expect((await fetch(`${gw.url}/inventory/p-1`)).status).toBe(504);
    const hitsBefore = only.hits.length;
    // Ten at once: before, each was sent to the frozen instance and waited out the budget (504).
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`${gw.url}/inventory/p-1`).then((res) => res.status)),
    );
    expect(answers.filter((status) => status === 504)).toHaveLength(1);
    expect(answers.filter((status) => status === 503)).toHaveLength(9);
    expect(only.hits.length - hitsBefore).toBe(1);
  }, 30_000);
});
