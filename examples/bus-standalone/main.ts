/**
 * The bus library on its own, without the service host: a Redis Streams transport, a publisher, a
 * subscriber with one default-policy handler and one must-complete handler, then a clean stop.
 *
 * Run: `REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/bus-standalone/main.ts [count]`
 * Prints `handled <to>` per message, and once more for the first message: its must-complete handler
 * fails once on purpose and the retry runs every handler of the message again (so handlers must be
 * idempotent); then `retried <to>` for that retry, then `done <count>`. The logger (LOG_LEVEL, default
 * warn) adds one JSON warn line for that transient failure; LOG_LEVEL=silent hides it. Exit code 0
 * when every message was handled. A Redis that does not answer within REDIS_CONNECT_TIMEOUT_MS (ms,
 * default 10000) is one line, exit 1; a count that is not a whole number from 1 up is one usage line, exit 2.
 * It trims its streams as a service does (StreamTrimmer: what every group handled goes, once a
 * minute and once more on the way out), so a long run stays bounded.
 * On exit it deletes the keys it made (all in the `{greeter}` and `{greeter-readers}` hash slots), so a
 * run leaves the database as it found it; `KEEP_KEYS=1` keeps them to look at (`redis-cli --scan`).
 */
import { hostname } from "node:os";
import {
  ownedStreamKeys,
  Publisher,
  RedisStreamsTransport,
  StreamTrimmer,
  Subscriber,
} from "../../src/lib/bus/index.js";
import { RedisDeadLetterStore } from "../../src/lib/dlq/index.js";
import { createLogger } from "../../src/lib/observability/logger.js";
import { ResendGuardRedis } from "../../src/lib/redis/index.js";
import { startFailureReason } from "../../src/lib/runtime/launch-signal.js";
import { getProcessKeyring } from "../../src/lib/security/process-keys.js";
import { createVerifier } from "../../src/lib/security/signing.js";
import { DEFAULT_REDIS_CONNECT_TIMEOUT_MS, waitForRedis } from "../../src/lib/runtime/redis-ready.js";
import { redactRedisUrl } from "../../src/lib/runtime/redis-url.js";
import { GreeterEvents } from "./events.js";

// A mistaken count is one usage line, exit 2, before Redis is asked (newuser11 F4: "abc", 0 or -3
// ran nothing and ended "done 0", exit 1; 1.5 published two messages).
const countArg = process.argv[2] ?? "5";
if (!/^[1-9]\d{0,5}$/.test(countArg)) {
  process.stderr.write(
    `bus-standalone: the message count must be a whole number from 1 to 999999 (got ${JSON.stringify(countArg)}); ` +
      "usage: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/bus-standalone/main.ts [count, default 5]\n",
  );
  process.exit(2);
}
const count = Number(countArg);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// maxRetriesPerRequest null: the bus's blocking reads must wait out a reconnect, not fail. The guard:
// a write whose reply a connection drop lost fails (the bus retries it) instead of running twice.
const redis = new ResendGuardRedis(redisUrl, { maxRetriesPerRequest: null });
// Without a logger the library logs nothing: pass one to see warnings and the must-complete alert.
const logger = createLogger({ service: "greeter-example", level: process.env.LOG_LEVEL ?? "warn" });
// ioredis emits "error" on every failed (re)connect and reconnects forever; with no listener Node
// prints "[ioredis] Unhandled error event" each time (newuser9 F15). Before the first connect the
// wait below reports it; once up, a lost connection is a warning while ioredis reconnects.
let connected = false;
redis.on("error", (error: Error) => {
  if (connected) logger.warn({ err: error }, "redis connection error; reconnecting");
});
// The first connect bounded, as the services do: one line and exit 1, not a retry loop forever.
try {
  await waitForRedis(redis, Number(process.env.REDIS_CONNECT_TIMEOUT_MS || DEFAULT_REDIS_CONNECT_TIMEOUT_MS));
  connected = true;
} catch (error) {
  process.stderr.write(
    `bus-standalone: cannot use Redis at ${redactRedisUrl(redisUrl)}: ${startFailureReason(error)}\n`,
  );
  redis.disconnect();
  process.exit(1);
}

// The transport needs a dead-letter store: where messages that cannot succeed are parked.
const transport = new RedisStreamsTransport({ redis, deadLetters: new RedisDeadLetterStore(redis) });
// The consumer name, as the services make theirs: INSTANCE_ID, else `<name>-<host>-<slot>` with the
// supervisor's process slot (INSTANCE_SLOT: a systemd template's %i, a replica index), so a restart
// takes the same name, resumes its pending entries at once and leaves no consumer behind. Without a
// slot, the pid: each restart then leaves one consumer per stream until the dead-consumer cleanup
// (BUS_DEAD_CONSUMER_MS, 1 h). Two live processes must never share a name.
const instance =
  process.env.INSTANCE_ID ?? `greeter-${hostname()}-${process.env.INSTANCE_SLOT ?? String(process.pid)}`;
// Signs with this process's keyring: BUS_SIGNING_KEYS (or BUS_SIGNING_KEYS_FILE), else, outside
// production, keys made up in this process (a consumer in another process cannot verify those).
const publisher = new Publisher({
  events: GreeterEvents,
  transport,
  source: { service: "greeter", instance },
});

const seen = new Set<string>();
let failedOnce: string | undefined;
let retriedOk = false;
const subscriber = new Subscriber({
  events: GreeterEvents,
  transport,
  group: "greeter-readers", // one consumer group per subscribing service
  consumer: instance, // unique per live instance, stable across its restarts
  concurrency: 16, // the library's default; the service host sets 64
  logger,
  // Checks each entry's signature against the same keyring before anything reads it: an entry
  // added by hand (XADD) or forged is dead-lettered as SIGNATURE_INVALID, not run. Left out, the
  // subscriber runs whatever is in the stream (and warns at start).
  verifier: createVerifier(getProcessKeyring()),
});
// A retry runs every handler of the message again, so each must be idempotent: here a Set.
subscriber.on("greeting.sent", ({ to }) => {
  seen.add(to);
  process.stdout.write(`handled ${to}\n`);
});
// Must-complete: retried with capped exponential backoff for hours (BUS_MUST_COMPLETE_WINDOW_MS),
// never dead-lettered for a transient error. This one fails its first call, then succeeds.
subscriber.on(
  "greeting.sent",
  ({ to }) => {
    if (failedOnce === undefined) {
      failedOnce = to;
      throw new Error("the mail relay is down (transient)");
    }
    if (to === failedOnce) {
      retriedOk = true;
      process.stdout.write(`retried ${to}\n`);
    }
  },
  { policy: "must-complete" },
);

// Create the group before publishing so it reads from the first message (groups start at 0).
await transport.ensureGroups("greeter-readers", subscriber.topics());
await subscriber.start();
// Nothing trims a stream by itself, and Redis runs noeviction: a stream nobody trims keeps every
// entry, handled or not, until Redis is full (break29 F1). The owner of the events trims their
// streams, as every service does (the same StreamTrimmer), and the group's service its redeliver
// stream (DLQ replays): here one process is both. A stream some group reads loses, each pass, what
// every group has handled (never an entry still pending or unread); one no group reads keeps an
// hour and at most about 100,000 entries. A group that reads nothing for 15 min while entries
// wait holds the trimming back: said once an hour, with the way out.
const trimmer = new StreamTrimmer({
  redis,
  keys: ownedStreamKeys(GreeterEvents, "greeter", ["greeter-readers"]),
  retentionMs: 3_600_000,
  maxLenWithoutGroups: 100_000,
  intervalMs: 60_000, // one pass a minute (the services' STREAM_TRIM_INTERVAL_MS)
  onError: (error) => logger.warn({ err: error }, "stream trim failed"),
  onStaleGroup: ({ stream, group, idleMs }) =>
    logger.warn(
      { stream, group, idleMinutes: Math.round(idleMs / 60_000) },
      `consumer group "${group}" has read nothing from ${stream} while entries wait: the stream grows; ` +
        `if it is retired, stop its instances and XGROUP DESTROY ${stream} ${group}`,
    ),
});
for (let i = 0; i < count; i++) await publisher.publish("greeting.sent", { to: `friend-${i}`, attempt: 0 });

const deadline = Date.now() + 30_000;
const finished = () => seen.size === count && retried();
const retried = () => failedOnce !== undefined && retriedOk;
while (!finished() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
process.stdout.write(`done ${seen.size}\n`);
await subscriber.stop(); // stops reading, waits for running handlers
// A last pass on the way out: a run shorter than the interval leaves its streams trimmed too.
await trimmer.trimOnce().catch((error: unknown) => logger.warn({ err: error }, "stream trim failed"));
await trimmer.stop();
await transport.close();
if (process.env.KEEP_KEYS !== "1") await deleteExampleKeys();
redis.disconnect();
process.exitCode = finished() ? 0 : 1;

/**
 * Deletes this example's keys: its event stream (`{greeter}:ev:greeting.sent`), its group's
 * redelivery stream and any retry bookkeeping, every one under the owner's or the group's hash tag.
 * Returns how many went. Nothing else in the database is touched.
 */
async function deleteExampleKeys(): Promise<number> {
  let deleted = 0;
  for (const pattern of ["{greeter}:*", "{greeter-readers}:*"]) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 100);
      if (keys.length > 0) deleted += await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  }
  return deleted;
}
