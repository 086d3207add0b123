/**
 * break22 F3: a forward step of the host's wall clock (NTP, a VM resumed) took every handler in
 * flight for hung: the dispatcher stamped handler starts with Date.now(), the renewal round gave up
 * each lease older than maxLeaseMs, and other instances ran the messages a second time. Handler
 * durations are local, so they run on the monotonic clock: a step changes nothing.
 */
import { afterEach, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { silentLogger } from "./redis-streams-support.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";
import { steppableWallClock } from "../../../test-support/wall-clock.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describeWithRedis("a running handler when the wall clock steps forward", (getRedis) => {
  it("keeps its lease: it is renewed, not given up as hung", { timeout: 40_000 }, async () => {
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      claimIdleMs: 60_000,
      renewIntervalMs: 20,
      maxLeaseMs: 600_000,
      blockMs: 200,
      logger: silentLogger,
    });
    let rounds = 0;
    transport.onLeaseActivity((a) => {
      if (a.kind === "renewed") rounds++;
    });
    const ref = uniqueTopic();
    const signals: AbortSignal[] = [];
    let release = () => {};
    const released = new Promise<void>((r) => (release = r));
    await transport.subscribe({ group: uniqueName("g"), consumer: "a", topics: [ref] }, async (d) => {
      if (d.signal) signals.push(d.signal);
      await released;
      await d.ack();
    });
    await transport.publish([messageOf(ref, 1)]);
    await waitFor(() => signals.length === 1, 10_000, "the handler running");
    // The host's wall clock jumps 15 minutes ahead (past maxLeaseMs); the monotonic one does not.
    steppableWallClock().step(15 * 60_000);
    const after = rounds;
    await waitFor(() => rounds >= after + 5, 20_000, "five renewal rounds after the step");
    expect(signals[0]!.aborted).toBe(false);
    release();
    await transport.close();
  });
});
