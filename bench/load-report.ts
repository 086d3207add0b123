/** The Markdown section of BENCHMARKS.md for the end-to-end load benchmark. */
import type { AcceptedResult } from "./load-accepted.js";
import { type CompletionResult, sustained } from "./load-completion.js";
import type { HotSpot } from "./load-profile.js";
import type { LabelledProfile, RateRun } from "./load.js";

export const TARGETS = { acceptedPerSec: 15_000, completedPerSec: 2_000, p99At500Ms: 50 } as const;

export interface ReportInput {
  accepted: AcceptedResult;
  overRedis: readonly RateRun[];
  embedded: readonly RateRun[];
  profiles: readonly LabelledProfile[];
  durationSec: number;
  profiling: "auto" | "always" | "never";
}

const n = (v: number) => v.toLocaleString("en-US");
const met = (ok: boolean) => (ok ? "met" : "**missed**");

function failureText(r: CompletionResult): string {
  const http = Object.entries(r.httpFailures).map(([k, v]) => `${v}× ${k}`);
  return r.failures === 0 ? "0" : `${n(r.failures)}${http.length ? ` (HTTP: ${http.join(", ")})` : ""}`;
}

function rateRows(runs: readonly RateRun[]): string {
  const head = `| offered/s | sent | accepted | completed/s | completed | incomplete | failures | p50 ms | p99 ms | p99 sent→shipped ms | p99 POST ms | sustained |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|`;
  const rows = runs.map(({ result: r }) =>
    [
      n(r.rate),
      n(r.sent),
      n(r.accepted),
      n(r.completedPerSec),
      n(r.completed),
      n(r.incomplete),
      failureText(r),
      r.placedToShipped.p50,
      r.placedToShipped.p99,
      r.sentToShipped.p99,
      r.accept.p99,
      sustained(r) ? "yes" : "no",
    ].join(" | "),
  );
  return [head, ...rows.map((row) => `| ${row} |`)].join("\n");
}

function cpuRows(runs: readonly RateRun[]): string {
  const labels = [...new Set(runs.flatMap((r) => Object.keys(r.cpu)))];
  const head = `| offered/s | ${labels.join(" | ")} |\n|---:|${labels.map(() => "---:").join("|")}|`;
  const rows = runs.map(
    (r) => `| ${n(r.result.rate)} | ${labels.map((l) => `${r.cpu[l] ?? "–"}%`).join(" | ")} |`,
  );
  const total = (r: RateRun) => Object.values(r.cpu).reduce((a, b) => a + b, 0);
  const busiest = runs.reduce((max, r) => Math.max(max, total(r)), 0);
  const note = `\n\nAll processes together used up to ${Math.round(busiest)}% of the machine's 200%: once the two cores are shared out, each process gets less than a core while its event loop has work waiting, so orders queue instead of failing.`;
  return [head, ...rows].join("\n") + note;
}

const spots = (list: readonly HotSpot[]) => list.map((s) => `${s.percent}% ${s.name}`).join("; ");

function profileSection(profiles: readonly LabelledProfile[], mode: ReportInput["profiling"]): string {
  if (profiles.length === 0)
    return mode === "never"
      ? "Profiling was off for this run."
      : "Every target was met, so no profile was taken.";
  const parts = profiles.map(
    ({ label, summary }) => `**${label}** (${summary.seconds} s of CPU sampled)
- by package: ${spots(summary.packages.slice(0, 8))}
- top self-time functions: ${spots(summary.functions.slice(0, 8)).replaceAll("|", "\\|")}`,
  );
  return `A target was missed, so the run was profiled (V8 sampling profiler; self time, idle excluded).\n\n${parts.join("\n\n")}`;
}

export function loadMarkdown(input: ReportInput): string {
  const { accepted: a, overRedis, embedded, durationSec } = input;
  const sustainedMax = (runs: readonly RateRun[]) =>
    Math.max(0, ...runs.filter((r) => sustained(r.result)).map((r) => r.result.rate));
  const bestRedis = Math.max(0, ...overRedis.map((r) => r.result.completedPerSec));
  const at500 = overRedis.find((r) => r.result.rate === 500)?.result;
  return `## End to end: orders through the gateway and the saga

Load generator, bench consumer, every service, the gateway and Redis share this 2-core machine, so
each number is what the whole system does on two cores, not what one service could do alone.

### Accepted orders (embedded in-memory system)

autocannon (in a worker thread), ${a.connections} keep-alive connections, ${a.seconds} s of \`POST /orders\`
with valid bodies (one user, one product stocked to 10⁹, token \`tok_ok\`), after a 2 s warm-up. The
saga keeps processing the accepted orders in the same process meanwhile.

| req/s | requests | p50 ms | p99 ms | non-2xx | errors |
|---:|---:|---:|---:|---:|---:|
| ${n(a.perSecond)} | ${n(a.requests)} | ${a.p50} | ${a.p99} | ${n(a.non2xx)} | ${n(a.errors)} |

Target ${n(TARGETS.acceptedPerSec)}/s: ${met(a.perSecond >= TARGETS.acceptedPerSec)}.

### Completed orders, every service its own process over Redis

Each rate runs on a freshly launched system over a flushed Redis (six service processes + the
gateway), after 1 s of warm-up orders. Orders are placed open-loop at a fixed rate for ${durationSec} s
(Node \`http\`, keep-alive); a bench consumer group on \`order.shipment.prepared\` / \`order.failed\`
records when each order's outcome arrives. *completed/s*: orders shipped while the load ran, per
second; *completed* also counts those shipped during the drain window after it; *p50/p99*:
202 received → \`order.shipment.prepared\` observed (an event that beats its 202 counts as 0 ms);
*sustained*: everything offered was sent, accepted and shipped, nothing failed.

${rateRows(overRedis)}

CPU while the load ran (share of one core; 200% is the whole machine):

${cpuRows(overRedis)}

Highest sustained rate: ${n(sustainedMax(overRedis))} orders/s (best completion rate seen
${n(bestRedis)}/s); target ≥ ${n(TARGETS.completedPerSec)}/s: ${met(sustainedMax(overRedis) >= TARGETS.completedPerSec)}.
p99 placement → shipped at 500 orders/s: ${at500 ? `${at500.placedToShipped.p99} ms` : "not measured"}; target ≤ ${TARGETS.p99At500Ms} ms: ${met(at500 !== undefined && at500.placedToShipped.p99 <= TARGETS.p99At500Ms)}.

### Completed orders, embedded in-memory system

Same measurement on the embedded system (one process, in-memory bus; the load generator and the
bench consumer run in that process too).

${rateRows(embedded)}

Highest sustained rate: ${n(sustainedMax(embedded))} orders/s.

### Where the time goes

${profileSection(input.profiles, input.profiling)}
`;
}
