/**
 * A run found hung (ran maxLeaseMs) is told to the transport's lease-activity listeners by topic
 * (break26 L1: hung runs were only logged), which services count as ordersaga_hung_runs_total.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import type { LeaseActivity } from "./redis-streams-subscription.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("a handler run found hung", (getRedis) => {
  it("is told to lease-activity listeners as hung_let_go on its topic", { timeout: 30_000 }, async () => {
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      claimIdleMs: 60_000, // the let-go entry is not run again during the test
      renewIntervalMs: 20,
      maxLeaseMs: 200,
      blockMs: 200,
    });
    const activity: LeaseActivity[] = [];
    transport.onLeaseActivity((a) => {
      if (a.kind.startsWith("hung")) activity.push(a);
    });
    const ref = uniqueTopic();
    const group = uniqueName("g");
    let release = () => {};
    const released = new Promise<void>((r) => (release = r));
    let started = 0;
    await transport.subscribe({ group, consumer: "a", topics: [ref], concurrency: 1 }, async (d) => {
      started++;
      await released;
      await d.ack();
    });
    await transport.publish([messageOf(ref, 1)]);
    await waitFor(() => activity.length >= 1, 15_000, "the hung run told");
    expect(activity[0]).toEqual({ kind: "hung_let_go", group, topic: ref.topic, count: 1 });
    expect(started).toBe(1);
    release();
    await transport.close();
  });
});
