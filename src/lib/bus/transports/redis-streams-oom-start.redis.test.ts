/**
 * A consumer starts at Redis's maxmemory (noeviction) when its group exists (break20 F4): Redis
 * refuses `XGROUP CREATE … MKSTREAM` with OOM before looking for the group, which made every
 * `subscribe()` fail with a raw ReplyError during the outage the consumers are there to drain.
 * A group that truly cannot be created is a typed, retryable error naming the stream.
 */
import { afterEach, expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { RedisDeadLetterStore } from "../../dlq/redis-dead-letter-store.js";
import { ConsumerGroupError } from "../errors.js";
import { eventStreamKey, redeliverStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("subscribing at Redis maxmemory (noeviction)", (getRedis) => {
  const transports: RedisStreamsTransport[] = [];
  const transport = () => {
    const t = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      blockMs: 100,
    });
    transports.push(t);
    return t;
  };
  afterEach(async () => {
    await getRedis().client().config("SET", "maxmemory", "0");
    for (const t of transports.splice(0)) await t.close();
  });

  /** Puts Redis at its memory limit: any denyoom command (SET, XGROUP CREATE) is refused. */
  async function fillMemory(): Promise<void> {
    const redis = getRedis().client();
    await redis.config("SET", "maxmemory-policy", "noeviction");
    const info = await redis.info("memory");
    const used = Number(/^used_memory:(\d+)/m.exec(info)![1]);
    await redis.config("SET", "maxmemory", String(used - 10_000));
    await expect(redis.set("probe", "x")).rejects.toThrow(/^OOM/);
  }

  it("an existing group: the consumer starts and drains the backlog", async () => {
    const ref = uniqueTopic();
    const group = uniqueName("g");
    const first = transport();
    await first.ensureGroups(group, [ref]);
    await first.publish([messageOf(ref, 1), messageOf(ref, 2), messageOf(ref, 3)]);
    await fillMemory();
    const handled: string[] = [];
    await transport().subscribe({ group, consumer: "c1", topics: [ref] }, async (d) => {
      handled.push(d.deliveryId);
      await d.ack();
    });
    await waitFor(() => handled.length === 3, 10_000, "the backlog handled at OOM");
    const key = eventStreamKey(ref.owner, ref.topic);
    await waitFor(
      async () => Number(((await getRedis().client().xpending(key, group)) as [number])[0]) === 0,
      10_000,
      "the backlog acknowledged at OOM",
    );
  });

  it("a group that cannot be created: ConsumerGroupError naming the stream and Redis's reason", async () => {
    const ref = uniqueTopic();
    const group = uniqueName("g");
    await fillMemory();
    const error = await transport()
      .subscribe({ group, consumer: "c1", topics: [ref] }, async (d) => d.ack())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ConsumerGroupError);
    const groupError = error as ConsumerGroupError;
    expect(groupError.code).toBe("GROUP_NOT_CREATED");
    expect(groupError.retryable).toBe(true);
    // The first of its streams refused: the event's or the group's redelivery stream.
    expect([eventStreamKey(ref.owner, ref.topic), redeliverStreamKey(group)]).toContain(groupError.stream);
    expect(groupError.message).toContain(`stream "${groupError.stream}"`);
    expect(groupError.message).toMatch(/OOM command not allowed/);
  });

  it("a failure at maxmemory writes nothing past it: no failure record, no dead letter (F5)", async () => {
    const redis = getRedis().client();
    const ref = uniqueTopic();
    const group = uniqueName("g");
    const t = new RedisStreamsTransport({
      redis,
      deadLetters: new RedisDeadLetterStore(redis),
      blockMs: 100,
    });
    transports.push(t);
    await t.ensureGroups(group, [ref]);
    await t.publish([messageOf(ref, 1)]);
    await fillMemory();
    const outcomes: string[] = [];
    await t.subscribe({ group, consumer: "c1", topics: [ref] }, async (d) => {
      const failure = {
        attempt: d.attempt,
        at: new Date().toISOString(),
        durationMs: 0,
        error: { name: "E", message: "m" },
      };
      for (const settle of [() => d.retry(failure, 10), () => d.deadLetter({ reason: "r", failure })])
        outcomes.push(
          await settle().then(
            () => "written",
            (e: unknown) => String(e),
          ),
        );
    });
    await waitFor(() => outcomes.length === 2, 10_000, "both settlements tried");
    expect(outcomes[0]).toMatch(/EXECABORT|OOM/);
    expect(outcomes[1]).toMatch(/OOM/);
    expect(await redis.keys("*:fail:*")).toEqual([]);
    expect(await redis.keys("{dlq}:*")).toEqual([]);
  });
});
