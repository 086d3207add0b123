/**
 * Runs consumer-process.fixture.ts as a supervisor would, for tests over real processes: starts it
 * again while it keeps dying, until a condition holds.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { waitFor } from "../../test-support/wait.js";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { Publisher } from "./publisher.js";
import { TestEvents } from "./test-events.js";
import { eventStreamKey } from "./transports/redis-stream-keys.js";
import { RedisStreamsTransport, type RedisStreamsTransportOptions } from "./transports/redis-streams.js";

const fixture = fileURLToPath(new URL("./consumer-process.fixture.ts", import.meta.url));

/**
 * Starts the fixture (consumer "slot-1", `env` added) again each time it exits, until `settled`
 * holds with a process alive (at most `maxStarts` starts, each waited on for `waitMs`); then kills
 * that process. Returns the exit codes of the processes that died and whether one lived.
 */
export async function superviseConsumer(
  env: Record<string, string>,
  settled: () => Promise<boolean>,
  { maxStarts = 8, waitMs = 60_000 } = {},
): Promise<{ exits: (number | null)[]; survived: boolean }> {
  const exits: (number | null)[] = [];
  let survivor: ChildProcess | undefined;
  try {
    for (let start = 0; start < maxStarts && !survivor; start++) {
      const child = spawn(process.execPath, ["--import", "tsx", fixture], {
        env: { ...process.env, CONSUMER: "slot-1", ...env },
        stdio: ["ignore", "pipe", "inherit"],
      });
      const exited = once(child, "exit").then(([code]) => code as number | null);
      let hasExited = false;
      void exited.then(() => (hasExited = true));
      // Settled, or this process died (then the poll stops and the next start follows).
      await waitFor(async () => hasExited || (await settled()), waitMs, "an exit or the entries settled");
      if (hasExited) exits.push(await exited);
      else survivor = child;
    }
  } finally {
    if (survivor && survivor.exitCode === null) {
      const gone = once(survivor, "exit");
      survivor.kill("SIGKILL");
      await gone;
    }
  }
  return { exits, survived: survivor !== undefined };
}

/** Starts the fixture (`env` added) and resolves once it has subscribed (or exited). */
export async function startConsumer(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(
    () => output.includes("ready") || child.exitCode !== null,
    30_000,
    "the consumer to subscribe",
  );
  return child;
}

/** SIGKILLs `child` unless it has exited, and waits for its exit. */
export async function killConsumer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = once(child, "exit");
  child.kill("SIGKILL");
  await gone;
}

/** The stream the fixture consumes: `item.added` of owner `shop`. */
export const ITEM_STREAM = eventStreamKey("shop", "item.added");

/**
 * The test side of a real-process test: a transport on `redis` with `groups` created on the
 * fixture's stream, a publisher of items by sku, and each group's pending count.
 */
export async function itemStream(
  redis: Redis,
  groups: readonly string[],
  options: Partial<Omit<RedisStreamsTransportOptions, "redis" | "deadLetters">> = {},
) {
  const deadLetters = new RedisDeadLetterStore(redis);
  const transport = new RedisStreamsTransport({ redis, deadLetters, ...options });
  for (const group of groups) await transport.ensureGroups(group, [{ topic: "item.added", owner: "shop" }]);
  const publisher = new Publisher({ events: TestEvents, transport, source: { service: "t", instance: "t" } });
  return {
    deadLetters,
    transport,
    publish: (sku: string) => publisher.publish("item.added", { sku, quantity: 1 }),
    pending: async (group: string) => ((await redis.xpending(ITEM_STREAM, group)) as [number])[0],
  };
}
