/**
 * The worst case of the bus streams' Redis memory, computed from the constants the code runs with
 * (not restated): the trim interval, the retention window and cap of streams no group reads, the
 * must-complete window a pending entry can pin a stream for, and the event catalog's streams.
 * Rendered into docs/storage.md by `npx tsx scripts/storage-table.ts --write` (a test keeps the
 * two equal). Sizes are in bytes per order/s of steady load, per stream.
 */
import { AllEvents } from "../contracts/index.js";
import { DEFAULT_MUST_COMPLETE_WINDOW_MS, DEFAULT_RETENTION } from "../lib/runtime/retention.js";

/**
 * MEMORY USAGE of one bus stream entry (an event envelope), bytes: measured by `npm run soak`
 * (the one figure here that is a measurement; docs/storage.md "Transient data at the defaults").
 */
export const BYTES_PER_STREAM_ENTRY = 700;

/** Bus streams: one per event of the catalog (`{owner}:ev:<event>`), plus a redeliver stream per service. */
export const EVENT_STREAMS = Object.keys(AllEvents).length;

const MB = 1024 * 1024;
const mb = (bytes: number) => {
  const n = bytes / MB;
  return n >= 10 ? Math.round(n).toLocaleString("en-US") : n >= 1 ? n.toFixed(1) : n.toFixed(2);
};
const duration = (ms: number) =>
  ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;

/** Bytes one stream holds at one entry per second, when it keeps `ms` of entries. */
const held = (ms: number) => (ms / 1000) * BYTES_PER_STREAM_ENTRY;

/** The markdown of docs/storage.md's stream budget (between its stream-budget markers). */
export function renderStreamBudget(): string {
  const trim = DEFAULT_RETENTION.streamTrimIntervalMs;
  const retention = DEFAULT_RETENTION.streamRetentionMs;
  const cap = DEFAULT_RETENTION.streamMaxLenWithoutGroups;
  const window = DEFAULT_MUST_COMPLETE_WINDOW_MS;
  const healthy = held(trim);
  const pinned = held(window);
  const rows = [
    [
      "groups keep up (healthy)",
      `trimmed every \`STREAM_TRIM_INTERVAL_MS\` (${duration(trim)}) below every group's position`,
      mb(healthy),
    ],
    [
      "no group reads it",
      `\`STREAM_RETENTION_MS\` (${duration(retention)}), at most \`STREAM_MAXLEN_WITHOUT_GROUPS\` (${cap.toLocaleString("en-US")}) entries`,
      `${mb(held(retention))} (cap: ${mb(cap * BYTES_PER_STREAM_ENTRY)} whatever the rate)`,
    ],
    [
      "one entry pending (a handler retrying a transient error under the must-complete policy)",
      `every later entry of its stream stays until it is acked or dead-lettered: up to \`BUS_MUST_COMPLETE_WINDOW_MS\` (${duration(window)})`,
      `${mb(pinned)} (${Math.round(pinned / healthy)}× the healthy figure)`,
    ],
    [
      "a consumer service down (its group does not read)",
      "every entry written since it stopped: no time bound, the outage's length",
      `${mb(held(3_600_000))} per hour of outage`,
    ],
    [
      "the owning service down",
      "not trimmed while every instance of it is down (each instance trims them, so one down changes nothing; no other process may XTRIM them: least privilege); only the owner publishes its events, so nothing new is written to them but the DLQ replays operators send to its redeliver stream",
      "frozen at what it held when its last instance stopped, plus one entry per replay sent meanwhile; trimmed on the first pass after it is back",
    ],
  ];
  return [
    `Per stream, at one entry per second (about one order/s for most streams: one event of a kind`,
    `per order), ${BYTES_PER_STREAM_ENTRY} bytes per entry (measured); ${EVENT_STREAMS} event streams in the catalog.`,
    `Computed from the defaults in \`src/lib/runtime/retention.ts\` by \`src/system/stream-budget.ts\`.`,
    "",
    "| situation | what the stream keeps | MB per entry/s |",
    "|---|---|---:|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    `So the honest worst case of a stream some group reads is the must-complete window, not the trim`,
    `interval: at 10 orders/s a stream pinned by one stuck entry holds about ${mb(10 * pinned)} MB, and if`,
    `every one of the ${EVENT_STREAMS} event streams were pinned at once, about ${mb(10 * pinned * EVENT_STREAMS)} MB. A consumer that is`,
    `down has no bound but the outage: about ${mb(10 * held(3_600_000))} MB per hour per stream it reads at 10 orders/s.`,
  ].join("\n");
}
