/**
 * Review finding: bulk retry and purge were unbatched (100k records took 8-10 s, and one DEL named
 * every key, blocking Redis). On a real Redis with 2,500 records (5 batches, 3 calls of 1,000): no
 * command names more keys than a batch, and a bulk operation that dies half-way, run again, finishes
 * the job without replaying a record twice (retry) or deleting one unaudited (purge).
 */
import { expect, it } from "vitest";
import { RedisStreamsTransport } from "../bus/transports/redis-streams.js";
import { redeliverStreamKey } from "../bus/transports/redis-stream-keys.js";
import { type MonitoredCommand, recordCommands } from "../../test-support/redis-monitor.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { DeadLetterQueue, DEFAULT_DLQ_BATCH_SIZE } from "./dead-letter-queue.js";
import type { DeadLetterStore } from "./dead-letter-store.js";
import { RedisDeadLetterStore } from "./redis-dead-letter-store.js";
import { sampleDeadLetter } from "./store-contract.js";

const RECORDS = 2_500;
/**
 * Per test: the work is bounded (seeding, a run that dies, a whole re-run, all under MONITOR); the
 * timeout only catches a hang. With 5,000 records the default 20 s left a 2x margin, eaten on a
 * loaded 2-core machine (flake31 F5: a retry test timed out).
 */
const TIMEOUT_MS = 120_000;
/** The records a "crash" lets through before the process dies. */
const SURVIVE = 1_000;
const ops = { actor: "ops" };

/** A whole bulk run: its calls, 1,000 records each, each going on from the last one's cursor. */
async function wholeRun(share: (cursor?: string) => Promise<{ nextCursor?: string }>): Promise<void> {
  let cursor: string | undefined;
  do cursor = (await share(cursor)).nextCursor;
  while (cursor !== undefined);
}

/** Keys (or members) one command names: EVAL's numkeys, else its argument count. */
function size(command: MonitoredCommand): number {
  if (command.name === "evalsha" || command.name === "eval") return Number(command.args[1]);
  return command.args.length;
}

/**
 * The store, dying (throwing) on the call to `method` that would take the records it has handled
 * past `SURVIVE`: the process dying mid-way, after some records were sent or audited.
 */
function dyingAfter(store: DeadLetterStore, methods: readonly string[]): DeadLetterStore {
  let handled = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || !methods.includes(String(property))) return value;
      return (...args: unknown[]) => {
        const first = args[0];
        handled += Array.isArray(first) ? first.length : 1;
        if (handled > SURVIVE) return Promise.reject(new Error("process died"));
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

describeWithRedis("dead-letter bulk operations in bounded batches", (getRedis) => {
  async function seed(store: RedisDeadLetterStore): Promise<void> {
    for (let start = 0; start < RECORDS; start += 500) {
      const batch = Array.from({ length: 500 }, (_, i) => sampleDeadLetter(`r-${start + i}`, start + i));
      await Promise.all(batch.map((record) => store.add(record)));
    }
  }

  it(
    "retries 2,500 records in batches, and a retry that died half-way finishes without replaying twice",
    async () => {
      await getRedis().flush();
      const redis = getRedis().client();
      const store = new RedisDeadLetterStore(redis);
      const transport = new RedisStreamsTransport({ redis, deadLetters: store });
      const queueOver = (s: DeadLetterStore) =>
        new DeadLetterQueue({
          store: s,
          redeliver: (group, message) => transport.redeliver(group, message),
          redeliverOnce: (group, replays) => transport.redeliverOnce(group, replays),
        });
      try {
        await seed(store);
        const recorder = await recordCommands(redis);
        // Dies while marking records retried: their replays were sent, their status not written.
        const dying = queueOver(dyingAfter(store, ["markRetried"]));
        await expect(
          wholeRun((cursor) => dying.retryMany({ limit: 1_000, ...(cursor ? { cursor } : {}) }, ops)),
          // Its batch was sent: the marks' outcome is unknown, not "nothing happened" (break29 F3).
        ).rejects.toMatchObject({ code: "DLQ_RETRY_OUTCOME_UNKNOWN", cause: new Error("process died") });
        const started = Date.now();
        const rerun = { retried: [] as string[], failed: [] as unknown[] };
        await wholeRun(async (cursor) => {
          const share = await queueOver(store).retryMany(
            { limit: 1_000, ...(cursor ? { cursor } : {}) },
            ops,
          );
          rerun.retried.push(...share.retried);
          rerun.failed.push(...share.failed);
          return share;
        });
        const rerunMs = Date.now() - started;
        const commands = await recorder.stop();

        expect(rerun.failed).toEqual([]);
        // The re-run retried what the first run had not marked: the whole job is done once.
        expect(rerun.retried.length).toBeGreaterThanOrEqual(RECORDS - SURVIVE);
        expect(await redis.xlen(redeliverStreamKey("inventory"))).toBe(RECORDS);
        const statuses = await Promise.all(
          [0, 999, 1_000, 1_499, 1_500, RECORDS - 1].map(async (i) => (await store.get(`r-${i}`))?.status),
        );
        expect(statuses).toEqual(Array(6).fill("retried"));
        expect((await store.get("r-1200"))?.retries).toBe(1);
        expect(await store.audit("r-1200")).toHaveLength(1);
        expect(Math.max(...commands.map(size))).toBeLessThanOrEqual(DEFAULT_DLQ_BATCH_SIZE + 1);
        console.info(`bulk retry of ${rerun.retried.length} records: ${rerunMs} ms`);
      } finally {
        await transport.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "purges 2,500 records in batches, each audited as it is deleted, and a purge that died half-way finishes",
    async () => {
      await getRedis().flush();
      const redis = getRedis().client();
      const store = new RedisDeadLetterStore(redis);
      await seed(store);
      const recorder = await recordCommands(redis);
      const cutoff = { olderThan: "2030-01-01T00:00:00Z", limit: 1_000 };
      const dying = new DeadLetterQueue({ store: dyingAfter(store, ["purge"]), redeliver: async () => {} });
      await expect(
        wholeRun((cursor) => dying.purge({ ...cutoff, ...(cursor ? { cursor } : {}) }, ops)),
      ).rejects.toThrow("process died");
      const queue = new DeadLetterQueue({ store, redeliver: async () => {} });
      const rerun = { purged: [] as string[] };
      await wholeRun(async (cursor) => {
        const share = await queue.purge({ ...cutoff, ...(cursor ? { cursor } : {}) }, ops);
        rerun.purged.push(...share.purged);
        return share;
      });
      const commands = await recorder.stop();

      expect(rerun.purged.length).toBeGreaterThanOrEqual(RECORDS - SURVIVE);
      expect(await redis.zcard("{dlq}:idx")).toBe(0);
      expect(await store.get(`r-${RECORDS - 1}`)).toBeUndefined();
      // Every record purged has its "purged" entry, once: audit and deletion are one step.
      for (const id of ["r-0", "r-1000", `r-${RECORDS - 1}`]) {
        expect((await store.audit(id)).map((e) => e.action)).toEqual(["purged"]);
      }
      const dels = commands.filter((c) => c.name === "del" || c.name === "unlink" || c.name === "zrem");
      expect(dels.length).toBeGreaterThan(1);
      expect(Math.max(...commands.map(size))).toBeLessThanOrEqual(DEFAULT_DLQ_BATCH_SIZE + 1);
    },
    TIMEOUT_MS,
  );
});
