/**
 * Redis key names of the Streams transport, in one place. Every stream of an event lives in its
 * owning service's hash slot (`{owner}`), so the owner's state changes and the events they emit can
 * be written in one MULTI/EXEC or Lua script, also on Redis Cluster (the outbox, done natively).
 */
import type { OutgoingMessage } from "../transport.js";

/** Stream of one event: `{owner}:ev:<event name>`. */
export const eventStreamKey = (owner: string, topic: string): string => `{${owner}}:ev:${topic}`;

/** Per-group stream for manual replay (DLQ retry) to that group only: `{group}:redeliver`. */
export const redeliverStreamKey = (group: string): string => `{${group}}:redeliver`;

/**
 * Replays already sent to one group (DLQ retries), to send each at most once: `{group}:replays`, a
 * sorted set of replay ids scored by the time sent (ms, Redis `TIME`), trimmed to `REPLAY_DEDUPE_MS` on each send.
 */
export const replaysKey = (group: string): string => `{${group}}:replays`;

/** Field names of a stream entry: `b` the encoded envelope; redelivered entries add topic and owner. */
export const FIELD_BODY = "b";
export const FIELD_TOPIC = "t";
export const FIELD_OWNER = "o";

/**
 * The arguments to XADD one message to its event stream after the key and id:
 * `XADD <key> <id> ...eventStreamFields(msg)`. Used by the transport and by stores that append
 * events atomically with their own writes.
 */
export const eventStreamFields = (message: OutgoingMessage): [string, string] => [FIELD_BODY, message.body];

/**
 * Failures recorded for one pending entry of one group: `<stream key>:fail:<group>:<entry id>`.
 * Built from the stream key so it shares the stream's hash slot (ack + delete in one MULTI).
 */
export const failuresKey = (streamKey: string, group: string, entryId: string): string =>
  `${streamKey}:fail:${group}:${entryId}`;

/**
 * How often one pending entry of one group was deferred (`Delivery.defer`): an outcome that is not a
 * failed attempt. `<stream key>:defer:<group>:<entry id>`, in the stream's hash slot, with a TTL.
 */
export const deferralsKey = (streamKey: string, group: string, entryId: string): string =>
  `${streamKey}:defer:${group}:${entryId}`;

/**
 * How many runs of one pending entry of one group had the process to themselves (a crash suspect:
 * see redis-streams-isolation.ts) and ended without an outcome: its proven crashes, its crash-loop
 * count. Counted as such a run starts, undone if another handler starts beside it or the run ends
 * with an outcome (a failure or a deferral). `<stream key>:solo:<group>:<entry id>`, in the
 * stream's hash slot, with a TTL.
 */
export const soloRunsKey = (streamKey: string, group: string, entryId: string): string =>
  `${streamKey}:solo:${group}:${entryId}`;

/**
 * How many solo runs of one pending entry of one group had their count undone because other
 * handlers started beside them after their hold (break23 F1): each doubles its next hold.
 * `<stream key>:undone:<group>:<entry id>`, in the stream's hash slot, with a TTL.
 */
export const soloUndoneKey = (streamKey: string, group: string, entryId: string): string =>
  `${streamKey}:undone:${group}:${entryId}`;

/**
 * How many redeliveries of one pending entry of one group started its handler (break24 F1): the
 * crash-loop backstop counts silent runs that started, not deliveries that died waiting at the run
 * gate. INCR as a redelivered entry's handler starts (a first delivery writes nothing).
 * `<stream key>:runs:<group>:<entry id>`, in the stream's hash slot, with a TTL.
 */
export const startedRunsKey = (streamKey: string, group: string, entryId: string): string =>
  `${streamKey}:runs:${group}:${entryId}`;

/**
 * Runs of one pending entry of one group given up as hung (their handler ran `maxLeaseMs`) and let
 * go (break26 F2): `"<hung runs> <explained>"`, where `explained` is how many of the entry's silent
 * deliveries the hangs explain (as a failed attempt's record does, redis-streams-delivery.ts): its
 * next run, on any instance, knows the silence was a hang, not a crash, so it is no crash suspect.
 * A run found alive after its consumer stalled past claimIdleMs and lost the lease (a long GC,
 * SIGSTOP: Dispatcher.recordStall) raises `explained` only: a stall is no hang either, and its new
 * owner's run, a suspect while it waits or holds, re-reads the record and runs as an ordinary run.
 * Written once per hung or stalled run (hungRunScript), `<stream key>:hung:<group>:<entry id>`, in
 * the stream's hash slot, with a TTL.
 */
export const hungRunsKey = (streamKey: string, group: string, entryId: string): string =>
  `${streamKey}:hung:${group}:${entryId}`;

/** Every per-entry record key of one pending entry of one group: deleted together when it is done. */
export const entryRecordKeys = (streamKey: string, group: string, entryId: string): string[] => [
  failuresKey(streamKey, group, entryId),
  deferralsKey(streamKey, group, entryId),
  soloRunsKey(streamKey, group, entryId),
  soloUndoneKey(streamKey, group, entryId),
  startedRunsKey(streamKey, group, entryId),
  hungRunsKey(streamKey, group, entryId),
];

/**
 * How far one group has read one stream, across its instances: the id of the last entry a `>` read
 * handed to any consumer of the group (`<stream key>:readto:<group>`, a string, in the stream's hash
 * slot). It survives `XGROUP DESTROY`, so a group found missing is recreated after every entry any
 * instance read, not only the finder's own (break21 N3). Written by the reads (a blocking read's
 * up to `readMarkIntervalMs` later: ReadMarkPacer), with a TTL of `READ_TO_TTL_MS` renewed by each
 * write.
 */
export const readToKey = (streamKey: string, group: string): string => `${streamKey}:readto:${group}`;

/**
 * Lifetime of a read-to mark after the group's last read, ms (30 days): a retired group's mark goes
 * by itself; a live group's is renewed by every read. A group idle for longer and then destroyed
 * under two instances falls back to each one's own last read.
 */
export const READ_TO_TTL_MS = 30 * 86_400_000;

/** Pub/Sub channel of one event (channels are not keys: no hash tag needed). */
export const pubsubChannel = (prefix: string, topic: string): string => `${prefix}${topic}`;

/** Pub/Sub channel of manual replays to one group. */
export const pubsubRedeliverChannel = (prefix: string, group: string): string =>
  `${prefix}redeliver:${group}`;
