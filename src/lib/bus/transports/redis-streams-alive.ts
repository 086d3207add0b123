/**
 * What tells a silent delivery that was no crash (redis-streams-isolation.ts) from one that may
 * have been: one record next to the entry (hungRunsKey, `"<hung runs> <explained>"`), written by the
 * consumer that was alive all along, and read again by a crash suspect while it waits or holds.
 * A run given up as hung writes it (break26 F2); so does a run found alive after its consumer
 * stalled past claimIdleMs (a long GC, SIGSTOP) and lost the lease, and a first delivery taken over
 * before it ran: the stalled consumer did not crash, so the new owner's run is no suspect.
 */
import type { Redis } from "ioredis";
import { execOrThrow } from "../../redis/index.js";
import { hungRunsKey } from "./redis-stream-keys.js";
import {
  type EntrySource,
  explainedByOutcomeOf,
  hungRecordOf,
  silentDeliveriesOf,
} from "./redis-streams-delivery.js";
import type { Recheck } from "./redis-streams-isolation.js";
import { hungRunScript } from "./redis-streams-scripts.js";
import { errorDetails, type TransportLogger } from "./redis-streams-support.js";

/** The shortest time (ms) between two re-reads of a waiting or holding suspect's record. */
const MIN_RECHECK_MS = 50;

export interface AliveContext {
  redis: Redis;
  group: string;
  /** TTL (ms) of the entry's records. */
  failureTtlMs: number;
  logger: TransportLogger;
}

/**
 * Records a run of `source` that ended silently here without a crash: its silence and those in
 * company before it (explainedByOutcomeOf) are explained, and with `hung` a hung run is counted
 * too (only hangs: the backstop's reason names them, hungLoopReason); then its solo-run count, if
 * it was counted alone, is undone (`source.uncount`). A failure is logged as `failed` (its next
 * run is then a suspect, as before). One script call (hungRunScript: nothing if no longer pending).
 */
export async function recordAlive(
  { redis, group, failureTtlMs, logger }: AliveContext,
  source: EntrySource,
  hung: boolean,
  failed: string,
): Promise<void> {
  const explained = explainedByOutcomeOf(source) + 1;
  try {
    await hungRunScript.run(
      redis,
      [hungRunsKey(source.streamKey, group, source.entryId), source.streamKey],
      [explained, failureTtlMs, group, source.entryId, hung ? "1" : "0"],
    );
    await source.uncount?.();
  } catch (error) {
    logger.warn({ ...errorDetails(error), id: source.entryId }, failed);
  }
}

/**
 * Records the delivery of an entry handed to this consumer that never ran here and was taken over
 * meanwhile (a parked extra, a late reply, a run waiting in the gate: this process stalled): no
 * crash of this process. Only
 * for a first delivery (`deliveryCount` 1): then it is the entry's only silence, explained = 1
 * exactly, with no read; a later delivery may follow unexplained silences, which must stay so, and
 * is left as it was (a suspect). Rare: one small write, not awaited; a failure is logged.
 */
export function explainUnrun(
  { redis, group, failureTtlMs, logger }: AliveContext,
  stream: string,
  id: string,
  deliveryCount: number,
): void {
  if (deliveryCount !== 1) return;
  hungRunScript
    .run(redis, [hungRunsKey(stream, group, id), stream], [1, failureTtlMs, group, id, "0"])
    .catch((error: unknown) =>
      logger.warn({ ...errorDetails(error), id }, "could not record an entry taken over unrun"),
    );
}

/**
 * A crash suspect's re-read of its record while it waits or holds (RunGate Recheck): explained
 * once the record explains all its silent deliveries, or once the entry is no longer pending (the
 * stalled consumer's run returned and acked it: `gone`, nothing left to run); `onExplained` is
 * told first. One MULTI (GET, XPENDING of the one id) every `renewIntervalMs` (default claimIdleMs
 * / 3), at most every isolationMs / 10 and at least 50 ms apart, only while the suspect waits first
 * in line or holds: ordinary runs, and suspects further back in line, cost nothing.
 */
export function recheckOf(
  options: AliveContext & { claimIdleMs: number; isolationMs: number; renewIntervalMs?: number },
  source: EntrySource,
  onExplained: (explained: number, gone: boolean) => void,
): Recheck {
  const { redis, group, claimIdleMs, isolationMs } = options;
  const { streamKey, entryId } = source;
  const renewMs = options.renewIntervalMs ?? claimIdleMs / 3;
  const key = hungRunsKey(streamKey, group, entryId);
  return {
    everyMs: Math.max(MIN_RECHECK_MS, Math.min(renewMs, isolationMs / 10)),
    explained: async () => {
      const [record, pending] = (await execOrThrow(
        redis.multi().get(key).xpending(streamKey, group, entryId, entryId, 1),
      )) as [string | null, unknown[]];
      const silent = silentDeliveriesOf(source);
      const gone = pending.length === 0;
      const explained = gone ? silent : Math.max(source.explained ?? 0, hungRecordOf(record).explained);
      if (silent > explained) return false;
      onExplained(explained, gone);
      return true;
    },
  };
}
