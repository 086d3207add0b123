/**
 * Break22 F1: a step of the gateway host's wall clock (NTP, VM resume) must change nothing. The
 * gateway's `now` is that wall clock, stepped here; local durations run on the monotonic source.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { waitFor } from "../test-support/wait.js";
import { steppableWallClock, TEN_MINUTES_MS } from "../test-support/wall-clock.js";
import { authFailureThrottle } from "./auth-throttle.js";
import { AvoidList } from "./avoid-list.js";
import { useTestGateway } from "./test-upstream.js";

const harness = useTestGateway();

/** The host's wall clock, as the gateway's `now`, that a test steps. */
function steppableWall() {
  let offset = 0;
  return { now: () => Date.now() + offset, step: (ms: number) => (offset += ms) };
}

describe("gateway over HTTP: a step back of its host's wall clock", () => {
  it("keeps serving an API key that already used its bucket (no 429 at 5 requests)", async () => {
    const wall = steppableWall();
    await harness.start({ apiKeys: ["k-1"], rateLimit: { perMinute: 600, burst: 5 }, now: wall.now });
    await harness.upstream("order", "order-a");
    const get = () => fetch(`${harness.gw.url}/orders/o-1`, { headers: { "x-api-key": "k-1" } });
    expect((await get()).status).toBe(200);
    wall.step(-TEN_MINUTES_MS);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get()).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
  });

  it("reads the registry again: an instance restarted on a new port after the step is reached", async () => {
    const wall = steppableWall();
    await harness.start({ now: wall.now });
    const first = await harness.upstream("order", "order-a");
    expect((await fetch(`${harness.gw.url}/orders/o-1`)).status).toBe(200);
    wall.step(-TEN_MINUTES_MS);
    await first.close();
    await harness.gw.registry.deregister("order", "order-a");
    const second = await harness.upstream("order", "order-b");
    const res = await fetch(`${harness.gw.url}/orders/o-1`);
    expect(res.status).toBe(200);
    expect(second.hits).toHaveLength(1);
  });
});

describe("gateway's local durations with the default clock when Date.now steps back", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });
  it("the failed-authentication throttle blocks for its refill time, not for the step", () => {
    const wall = steppableWallClock();
    const throttle = authFailureThrottle({ perMinute: 3 });
    for (let i = 0; i < 3; i++) throttle.recordFailure("10.0.0.1");
    wall.step(-TEN_MINUTES_MS);
    expect(throttle.blockedForMs("10.0.0.1")).toBeLessThanOrEqual(20_000);
  });

  it("an avoided instance is tried again after avoidMs", async () => {
    const wall = steppableWallClock();
    const avoided = new AvoidList({ avoidMs: 50 });
    avoided.failed("order-a", { avoid: true });
    wall.step(-TEN_MINUTES_MS);
    await waitFor(() => !avoided.isAvoided("order-a"), 2_000, "the avoidance to end after 50 ms");
  });
});
