/**
 * Reads the Redis counters the per-order breakdown is made of (arithmetic in ./redis-calls.ts):
 * `INFO commandstats` and every event stream's `entries-added`.
 */
import { createConnection } from "node:net";
import type { Redis } from "ioredis";
import { dueKey } from "../src/services/shipping/keys.js";
import { sleep } from "./support.js";
import {
  type CallTally,
  type Counts,
  emptyTally,
  countsDelta,
  flatField,
  MEASURING_COMMANDS,
  messagesByEvent,
  parseCommandstats,
  parseMonitorLine,
  streamEvent,
  tallyCall,
  totalOf,
  without,
} from "./redis-calls.js";

export async function commandstats(redis: Redis): Promise<Counts> {
  return parseCommandstats(await redis.info("commandstats"));
}

/** Stream key → entries ever added, for every event stream (`{owner}:ev:<event>`). */
export async function streamEntriesAdded(
  redis: Redis,
  keys: ReadonlySet<string> | undefined = undefined,
): Promise<Counts> {
  keys ??= await eventStreamKeys(redis);
  const out: Counts = new Map();
  for (const key of keys) {
    try {
      const info = (await redis.xinfo("STREAM", key)) as unknown[];
      out.set(key, Number(flatField(info, "entries-added") ?? 0));
    } catch {
      // trimmed away or deleted between SCAN and XINFO: nothing to count
    }
  }
  return out;
}

/** The event streams' keys: a SCAN of the whole keyspace (tens of thousands of keys after a run). */
export async function eventStreamKeys(redis: Redis): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", "*:ev:*", "COUNT", 1_000, "TYPE", "stream");
    cursor = next;
    for (const key of batch) if (streamEvent(key) !== undefined) keys.add(key);
  } while (cursor !== "0");
  return keys;
}

/**
 * Until no shipment is due any more and no event stream has grown for `quietMs`: every delivery
 * scheduled so far (`SHIPPING_DELIVERY_DELAY_MS` after its order completed) is made and its
 * messages handled. False when that took longer than `maxMs`. A per-order count taken right after
 * a faster window would otherwise include that window's deliveries (bench/quick.ts's MONITOR
 * sample at 25 orders/s counted those of the 120 orders/s before it: 39.8 EVALSHA per order for
 * 22 in bench/order-calls.ts).
 */
export async function untilDeliveriesDone(
  redis: Redis,
  { quietMs = 1_000, maxMs = 20_000, pollMs = 100 } = {},
): Promise<boolean> {
  const until = performance.now() + maxMs;
  let last = -1;
  let quietSince = performance.now();
  // The keyspace is scanned when the streams look quiet, not at every poll: a SCAN of it every 100 ms
  // inside a measured window cost Redis more CPU per order than some services did. The polls in
  // between read the streams known so far; a stream created meanwhile is found by the scan that
  // must confirm the quiet before it counts.
  let streams = await eventStreamKeys(redis);
  const entries = async () => totalOf(await streamEntriesAdded(redis, streams));
  while (performance.now() < until) {
    const due = await redis.zcard(dueKey());
    let added = await entries();
    if (due === 0 && added === last && performance.now() - quietSince >= quietMs) {
      streams = await eventStreamKeys(redis);
      added = await entries();
      if (added === last) return true;
    }
    if (due > 0 || added !== last) {
      last = added;
      quietSince = performance.now();
    }
    await sleep(pollMs);
  }
  return false;
}

export interface RedisWork {
  /** Every command Redis ran (scripts' commands included), by command, the measuring's own left out. */
  commands: Counts;
  /** Bus messages by event. */
  messages: Counts;
}

/** Starts a window over the Redis counters; `stop()` gives what ran since. */
export async function redisWindow(redis: Redis): Promise<{ stop(): Promise<RedisWork> }> {
  const [commands, streams] = [await commandstats(redis), await streamEntriesAdded(redis)];
  return {
    stop: async () => {
      const [commandsAfter, streamsAfter] = [await commandstats(redis), await streamEntriesAdded(redis)];
      return {
        commands: without(countsDelta(commands, commandsAfter), (name) => MEASURING_COMMANDS.test(name)),
        messages: messagesByEvent(streams, streamsAfter),
      };
    },
  };
}

/**
 * Tallies what MONITOR shows (./redis-calls.ts `tallyCall`) until `stop()`, which first waits until
 * MONITOR has shown a marker sent after everything before it. MONITOR costs Redis CPU: never open one
 * in a window whose CPU is measured. A plain socket, not ioredis's `monitor()`: on a busy Redis the
 * first lines can arrive with MONITOR's OK, before ioredis is in monitoring mode, and it throws
 * "Command queue state error".
 */
export async function monitorWindow(
  redis: Redis,
  sourceLabel: (address: string) => string | undefined = () => undefined,
  /** Senders tallied apart, in `excluded` (the benchmark's own outcome watcher). */
  exclude: (address: string) => boolean = () => false,
): Promise<{ stop(): Promise<{ calls: CallTally; excluded: CallTally }> }> {
  const tally = emptyTally();
  const excluded = emptyTally();
  const marker = `bench-monitor-${process.pid}-${Date.now()}`;
  let sawMarker: (() => void) | undefined;
  let markerSeen = false;
  await redis.ping(); // connected: its local address is known
  // `redis`'s own commands (the measuring: INFO, SCAN, XINFO, the marker) are left out.
  const own = `${redis.stream.localAddress}:${redis.stream.localPort}`;
  const { host, port, username, password } = redis.options;
  const socket = createConnection({ host: host ?? "127.0.0.1", port: port ?? 6379 });
  socket.setEncoding("utf8");
  let pending = "";
  const started = new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("data", (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf("\r\n")) >= 0) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (line.startsWith("-")) return reject(new Error(`MONITOR: ${line.slice(1)}`));
        if (line === "+OK") {
          resolve();
          continue;
        }
        const call = parseMonitorLine(line);
        if (!call) continue;
        if (call.source === own || call.source.endsWith(own)) {
          if (call.args[0]?.toLowerCase() === "echo" && call.args[1] === marker) {
            markerSeen = true;
            sawMarker?.();
          }
          continue;
        }
        tallyCall(exclude(call.source) ? excluded : tally, call.source, call.args, sourceLabel);
      }
    });
  });
  const auth = password ? `AUTH ${username ? `${username} ` : ""}${password}\r\n` : "";
  socket.write(`${auth}MONITOR\r\n`);
  await started;
  return {
    stop: async () => {
      const seen = new Promise<void>((resolve) => (markerSeen ? resolve() : (sawMarker = resolve)));
      await redis.echo(marker);
      await seen;
      socket.destroy();
      return { calls: tally, excluded };
    },
  };
}
