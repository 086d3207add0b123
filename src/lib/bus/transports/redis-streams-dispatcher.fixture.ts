/** Dispatchers over a real Redis for tests: consumer "A", one stream, a gate of their own. */
import type { Redis } from "ioredis";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import type { Delivery } from "../transport.js";
import { Dispatcher, type DispatcherOptions, type Incoming } from "./redis-streams-dispatcher.js";
import { RunGate } from "./redis-streams-isolation.js";
import { parseReadReply } from "./redis-streams-replies.js";
import { silentLogger } from "./redis-streams-support.js";
import { uniqueName } from "./transport-contract.js";

export const CLAIM_IDLE_MS = 2_000;

/** A dispatcher for consumer "A" of `group` on `stream`, with `concurrency` slots, its own gate. */
export function dispatcherOn(
  redis: Redis,
  stream: string,
  group: string,
  concurrency: number,
  handler: (delivery: Delivery) => Promise<void>,
  options: Partial<DispatcherOptions> = {},
): Dispatcher {
  return new Dispatcher(
    {
      redis,
      deadLetters: new MemoryDeadLetterStore(),
      group,
      consumer: "A",
      concurrency,
      failureTtlMs: 60_000,
      claimIdleMs: CLAIM_IDLE_MS,
      redeliverKey: `{${uniqueName("redeliver")}}:redeliver`,
      clock: Date.now,
      logger: silentLogger,
      refs: new Map([[stream, { owner: "park", topic: "t" }]]),
      maxLeaseMs: 600_000,
      isolationMs: 30_000,
      gate: new RunGate(),
      ...options,
    },
    handler,
  );
}

/**
 * Reads up to `count` entries of `stream` for consumer "A" (`from` ">" new ones, "0" its pending
 * ones again, which raises their delivery count), handed on as delivered `deliveryCount` times.
 */
export async function readAs(
  redis: Redis,
  stream: string,
  group: string,
  count: number,
  deliveryCount: number,
  from = ">",
): Promise<Incoming[]> {
  const reply = await redis.call("XREADGROUP", "GROUP", group, "A", "COUNT", count, "STREAMS", stream, from);
  return parseReadReply(reply).flatMap(({ key, entries }) =>
    entries.map((entry) => ({ key, claimed: { entry, deliveryCount } })),
  );
}
