/**
 * What the bus stores of a handler's failures stays small and is always written (break20 F8/F9):
 * a 5 MB error message costs a few KB wherever it is kept (failure list, DLQ record, audit trail),
 * a message failing many times keeps a bounded failure list (first and last attempts, counts
 * intact), and an odd thrown value (null prototype, throwing getter, revoked Proxy) is a recorded
 * failed attempt, not a failure of the failure path.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { deadLetterKeys } from "../dlq/keys.js";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { KEEP_FIRST_ATTEMPTS, KEEP_LAST_ATTEMPTS } from "./transports/dead-letter-record.js";
import { eventStreamKey, failuresKey } from "./transports/redis-stream-keys.js";
import { RedisStreamsTransport } from "./transports/redis-streams.js";
import { uniqueName } from "./transports/transport-contract.js";

type Events = typeof TestEvents;

describeWithRedis("failure records of the Redis Streams bus", (getRedis) => {
  async function setup(maxAttempts: number) {
    await getRedis().flush();
    const redis = getRedis().client();
    const deadLetters = new RedisDeadLetterStore(redis);
    const transport = new RedisStreamsTransport({ redis, deadLetters, blockMs: 100, claimIntervalMs: 50 });
    const publisher = new Publisher({
      events: TestEvents,
      transport,
      source: { service: "shop", instance: "shop-1" },
    });
    const group = uniqueName("g");
    const subscriber = new Subscriber<Events, Events>({
      events: TestEvents,
      transport,
      group,
      consumer: "c1",
      publisher,
      retry: { maxAttempts, backoff: () => 1 },
    });
    const stop = async () => {
      await subscriber.stop();
      await transport.close();
    };
    /** The group's first dead-letter record, once there is one. */
    const deadLettered = async (timeoutMs: number) => {
      const [record] = await waitFor(
        async () => {
          const list = await deadLetters.list({ group });
          return list.length > 0 ? list : undefined;
        },
        timeoutMs,
        "dead-lettered",
      );
      return record!;
    };
    return { redis, publisher, subscriber, group, stop, deadLettered };
  }

  async function memoryUsage(key: string): Promise<number> {
    return Number(await getRedis().client().call("MEMORY", "USAGE", key, "SAMPLES", "0"));
  }

  it(
    "a 5 MB error message costs a few KB in the failure list, the DLQ record and the audit trail",
    { timeout: 40_000 },
    async () => {
      const { redis, publisher, subscriber, group, stop, deadLettered } = await setup(3);
      const huge = "x".repeat(5_000_000);
      let listBytes = 0;
      let entryId = "";
      subscriber.on("item.added", async (_payload, ctx) => {
        if (ctx.attempt === 3) {
          const stream = eventStreamKey("shop", "item.added");
          entryId = ((await redis.xrange(stream, "-", "+")) as [string, string[]][])[0]![0];
          listBytes = await memoryUsage(failuresKey(stream, group, entryId));
        }
        throw new Error(huge);
      });
      await subscriber.start();
      await publisher.send([publisher.prepare("item.added", { sku: "a", quantity: 1 })]);
      // Two failure records (attempts 1 and 2) as the third attempt runs.
      await waitFor(() => listBytes > 0, 20_000, "the third attempt");
      expect(listBytes).toBeLessThan(16_384);
      const record = await deadLettered(20_000);
      await stop();
      for (const attempt of record.attempts)
        expect(Buffer.byteLength(attempt.error.message)).toBeLessThanOrEqual(2_048);
      expect(record.attempts[0]!.error.message).toMatch(/^x+…\[cut \d+ bytes\]$/);
      expect(Buffer.byteLength(record.reason)).toBeLessThanOrEqual(2_048);
      const keys = deadLetterKeys();
      expect(await memoryUsage(keys.record(record.id))).toBeLessThan(16_384);
      expect(await memoryUsage(keys.audit)).toBeLessThan(16_384);
      expect(await memoryUsage(keys.auditOf(record.id))).toBeLessThan(16_384);
    },
  );

  it("a message failing 30 times keeps a bounded failure list; attempts are still counted", async () => {
    const { redis, publisher, subscriber, group, stop, deadLettered } = await setup(30);
    const attempts: number[] = [];
    const listLengths: number[] = [];
    subscriber.on("item.added", async (_payload, ctx) => {
      attempts.push(ctx.attempt);
      const stream = eventStreamKey("shop", "item.added");
      const id = ((await redis.xrange(stream, "-", "+")) as [string, string[]][])[0]![0];
      listLengths.push(await redis.llen(failuresKey(stream, group, id)));
      throw new Error(`boom ${ctx.attempt}`);
    });
    await subscriber.start();
    await publisher.send([publisher.prepare("item.added", { sku: "a", quantity: 1 })]);
    const record = await deadLettered(30_000);
    await stop();
    expect(attempts).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(Math.max(...listLengths)).toBe(KEEP_FIRST_ATTEMPTS + KEEP_LAST_ATTEMPTS);
    const kept = record.attempts.map((a) => a.attempt);
    expect(kept).toEqual([1, 2, 3, 24, 25, 26, 27, 28, 29, 30]);
    expect(record.attempts.map((a) => a.error.message)).toEqual(kept.map((n) => `boom ${n}`));
    expect(record.reason).toMatch(/^failed 30 attempts/);
  });

  it("odd thrown values are recorded failed attempts, dead-lettered with their descriptions", async () => {
    const { publisher, subscriber, stop, deadLettered } = await setup(5);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const withThrowingGetter = new Error("getter error");
    Object.defineProperty(withThrowingGetter, "code", {
      enumerable: true,
      get() {
        throw new Error("getter boom");
      },
    });
    const circular: Record<string, unknown> = { n: 10n };
    circular.self = circular;
    const odd: unknown[] = [Object.create(null), withThrowingGetter, proxy, circular, Symbol("s")];
    const seen: number[] = [];
    subscriber.on("item.added", (_payload, ctx) => {
      seen.push(ctx.attempt);
      throw odd[ctx.attempt - 1];
    });
    await subscriber.start();
    await publisher.send([publisher.prepare("item.added", { sku: "a", quantity: 1 })]);
    const record = await deadLettered(20_000);
    await stop();
    // One delivery per attempt: none was left to the idle claim.
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(record.reason).toMatch(/^failed 5 attempts/);
    expect(record.attempts.map((a) => [a.error.name, a.error.message])).toEqual([
      ["NonError", "{}"],
      ["Error", "getter error"],
      ["Error", "[unprintable value]"], // a revoked Proxy: even `instanceof` throws on it
      ["NonError", "[object Object]"],
      ["NonError", "Symbol(s)"],
    ]);
  });
});
