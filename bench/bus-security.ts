/**
 * What signing, verification and field encryption cost (issue 12): the library's Streams path with
 * every message carrying a token-like field, in clear and unsigned vs signed (HMAC-SHA256),
 * verified, and the field sealed and opened (AES-256-GCM), in the same run. The three settings run
 * interleaved, `rounds` times, in alternating order (forward, then backward), and the report gives
 * medians with their spread: the cost of signing is the median over rounds of each round's own
 * signed-vs-unsigned ratio, so a slow minute on a shared machine moves both sides of a pair. Plus
 * the CPU cost per message of the operations alone, in a tight loop.
 * Part of `npm run bench`; `npx tsx bench/bus-security.ts [rounds] [messages]` runs only this and
 * prints its section.
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { parseEnv } from "../src/lib/runtime/config.js";
import { FieldCipher } from "../src/lib/security/encryption.js";
import { Keyring } from "../src/lib/security/keyring.js";
import { hmacImplementation, nativeHmacSetting } from "../src/lib/security/native-hmac.js";
import { createSigner, createVerifier } from "../src/lib/security/signing.js";
import { type BusResult, type LibraryRun, libraryStreams } from "./bus.js";
import { round, startBenchRedis } from "./support.js";

/** A median and the range it came from. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface SettingRuns {
  label: string;
  /** One run per round, in round order. */
  runs: BusResult[];
}

/**
 * The system's mix of sealed messages: an order moves 21 bus messages (`npm run bench -- --quick`'s
 * "bus messages per order", BENCHMARKS.md) and one carries a sealed field, the payment token,
 * sealed by the order service and opened once by the payment service. Users' email and phone are
 * sealed once per user write, not per order.
 */
export const MESSAGES_PER_SEALED_FIELD = 21;

export interface SecurityResult {
  /** Unsigned; signed; signed with the system's mix of sealed fields; signed + every message sealed. */
  settings: [SettingRuns, SettingRuns, SettingRuns, SettingRuns];
  rounds: number;
  messages: number;
  /** CPU µs per message of sign + verify alone (tight loop), over several runs. */
  signMicros: Spread;
  /** CPU µs per message of sign + verify + seal + open alone. */
  microsPerMessage: Spread;
  /** The 1-minute load average before and after the interleaved runs. */
  load: [number, number];
  /** How the MACs were computed: `native` or `crypto.hash (<why>)` (hmacImplementation). */
  hmac: string;
}

export function spread(values: readonly number[], digits = 1): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    median: round(median, digits),
    min: round(sorted[0] ?? 0, digits),
    max: round(sorted[sorted.length - 1] ?? 0, digits),
  };
}

/**
 * A distribution-free confidence interval for the median of `values` (order statistics of the
 * binomial(n, 1/2) law): the narrowest pair of ranks (k, n+1-k) that covers the median with at
 * least `level` probability, or undefined when there are too few values (fewer than 5 for 90%).
 * The verdict on a target needs it: with 5 rounds the interval is min–max, which on a shared
 * machine is often wider than the difference between 9% and 13%.
 */
export function medianInterval(
  values: readonly number[],
  level = 0.9,
  digits = 1,
): { low: number; high: number; coverage: number } | undefined {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  // P(Bin(n, 1/2) <= j), cumulated.
  let tail = 0;
  let term = 0.5 ** n;
  let best: { k: number; coverage: number } | undefined;
  for (let j = 0; j < n / 2; j++) {
    tail += term;
    term = (term * (n - j)) / (j + 1);
    // Ranks j+1 and n-j (1-based) cover the median with probability 1 - 2 P(Bin <= j).
    const coverage = 1 - 2 * tail;
    if (coverage < level) break;
    best = { k: j, coverage };
  }
  if (!best) return undefined;
  return {
    low: round(sorted[best.k]!, digits),
    high: round(sorted[n - 1 - best.k]!, digits),
    coverage: round(best.coverage * 100, 1),
  };
}

/** Whether a cost interval lies below, above or across `target` (%). */
export function verdict(interval: { low: number; high: number } | undefined, target: number): string {
  if (!interval) return "too few rounds for a verdict";
  if (interval.high < target) return `below ${target}%`;
  if (interval.low >= target) return `not below ${target}%`;
  return `undecided at this noise (the interval spans ${target}%)`;
}

const ENVELOPE_HEAD = JSON.stringify({
  id: "01a20c5e-0000-7000-8000-000000000001",
  event: "payment.processed",
  version: 1,
  occurredAt: "2026-11-30T08:00:00.000Z",
  source: { service: "payment", instance: "payment-host-1" },
  correlationId: "01a20c5e-0000-7000-8000-000000000000",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
}).slice(0, -1);

/** A typical envelope (about 450 bytes) with `field` in its attributes and `n` in its payload. */
const envelope = (field: string, n: number) =>
  `${ENVELOPE_HEAD},"attributes":{"s":"${field}"},"payload":{"orderId":"01a20c5e-0000-7000-8000-000000000000","paymentId":"pay-${n}","amount":3000}}`;

/**
 * CPU µs per message of sign + verify (and, `withSealing`, seal + open of the field) on distinct
 * envelopes built before the clock starts. Without sealing, verify reads received-like bodies: flat
 * strings, as a Redis reply gives them (verifying the signer's output directly would also time V8
 * flattening that concatenation, which the bus's socket write does for every body, signed or not).
 * With sealing, the envelope is built inside the loop (the sealed value is new each time).
 * Median of `runs` runs of `n`.
 */
export function cryptoMicros(n = 100_000, withSealing = true, runs = 5): Spread {
  const keyring = Keyring.generate(["payment"]);
  const signer = createSigner(keyring, "payment");
  const verifier = createVerifier(keyring);
  const cipher = new FieldCipher([{ kid: "k1", secret: randomBytes(32) }]);
  const bodies = Array.from({ length: 1_000 }, (_, i) => envelope("tok_ok__0123456789abcdef", i));
  const received = bodies.map((body) => Buffer.from(signer.sign(body, "payment")).toString());
  let signed = 0;
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      if (withSealing) {
        const sealed = cipher.seal("tok_ok__0123456789abcdef", "o-1");
        const body = signer.sign(envelope(sealed, i), "payment");
        signed += body.length;
        verifier.verify(body, "payment.processed", "payment");
        cipher.open(sealed, "o-1");
      } else {
        signed += signer.sign(bodies[i % 1_000]!, "payment").length;
        verifier.verify(received[i % 1_000]!, "payment.processed", "payment");
      }
    }
  };
  run(10_000);
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    // CPU time, not wall time: on a loaded machine the wall clock also counts other processes' turns.
    const before = process.cpuUsage();
    run(n);
    const cpu = process.cpuUsage(before);
    samples.push((cpu.user + cpu.system) / n);
  }
  if (signed === 0) throw new Error("nothing signed");
  return spread(samples, 2);
}

/** Unmeasured rounds before the measured ones (each setting at least 25,000 messages per round). */
const WARM_UP_ROUNDS = 2;

/**
 * BUS_NATIVE_HMAC as the services read it (newuser19 F3: the bench ran on crypto.hash under `=1`
 * with no addon, and took `=maybe`): one line and exit 1 when the setting is bad or unmet.
 */
export function checkNativeHmacSetting(env: NodeJS.ProcessEnv = process.env): void {
  try {
    parseEnv(z.object({ BUS_NATIVE_HMAC: nativeHmacSetting }), env);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    process.exit(1);
  }
}

export async function benchSecurity(url: string, total = 25_000, rounds = 9): Promise<SecurityResult> {
  const settings: LibraryRun[] = [
    { label: "unsigned, field in clear", security: "clear" },
    { label: "signed + verified (HMAC-SHA256), field in clear", security: "signed" },
    {
      label: `signed + verified, a payment token sealed, opened + shredded in 1 message of ${MESSAGES_PER_SEALED_FIELD} (the system's mix)`,
      security: "sealed",
      sealEvery: MESSAGES_PER_SEALED_FIELD,
      sealWith: "token",
    },
    {
      label: "signed + verified, field sealed + opened (AES-256-GCM, one key) in every message",
      security: "sealed",
    },
  ];
  const runs: BusResult[][] = settings.map(() => []);
  let loadBefore = 0;
  // Two unmeasured rounds first: a process's first ~100,000 messages run slower as V8 compiles the
  // hot path (CPU per message fell from ~80 to ~55 µs over the first 5 runs of 25,000 measured
  // here), and such a drift would load the first rounds' pairs.
  for (let r = -WARM_UP_ROUNDS; r < rounds; r++) {
    if (r === 0) loadBefore = loadavg()[0]!;
    // Forward on even rounds, backward on odd ones: no setting always runs first or last.
    const order = r % 2 === 0 ? [0, 1, 2, 3] : [3, 2, 1, 0];
    for (const i of order) {
      const result = await libraryStreams(
        url,
        r < 0 ? Math.max(total, 25_000) : total,
        undefined,
        settings[i],
      );
      if (r >= 0) runs[i]!.push(result);
    }
  }
  const loadAfter = loadavg()[0]!;
  return {
    settings: settings.map((s, i) => ({ label: s.label!, runs: runs[i]! })) as SecurityResult["settings"],
    rounds,
    messages: total,
    signMicros: cryptoMicros(100_000, false),
    microsPerMessage: cryptoMicros(),
    load: [round(loadBefore, 1), round(loadAfter, 1)],
    hmac: hmacImplementation(),
  };
}

/**
 * The hand-recorded history of the security cost in a BENCHMARKS.md (between
 * `<!-- security-history:start -->` and `<!-- security-history:end -->`, markers included), which
 * `npm run bench` keeps after the section it regenerates; undefined when the file has none.
 */
export function keptSecurityHistory(markdown: string): string | undefined {
  return /<!-- security-history:start -->[\s\S]*?<!-- security-history:end -->/.exec(markdown)?.[0];
}

const range = (s: Spread, unit = "") => `${s.median}${unit} (${s.min}–${s.max})`;
/** The interval of a paired cost's median and what it says about the 10% target. */
const interval = (what: string, i: ReturnType<typeof medianInterval>) =>
  i
    ? `${i.coverage}% interval of the median ${what} cost ${i.low}–${i.high}%: **${verdict(i, 10)}**`
    : `${what} cost: ${verdict(i, 10)}`;
const count = (n: number) => n.toLocaleString("en-US");

/** Each round's cost of `setting` against the unsigned run of the same round, % (paired). */
export function pairedCost(
  result: SecurityResult,
  setting: 1 | 2 | 3,
): {
  throughput: Spread;
  cpu: Spread;
  /** CPU µs per message more than the same round's unsigned run. */
  cpuMicros: Spread;
  throughputInterval: ReturnType<typeof medianInterval>;
  cpuInterval: ReturnType<typeof medianInterval>;
} {
  const [plain] = result.settings;
  const other = result.settings[setting];
  const throughput = other.runs.map((run, r) => (1 - run.perSecond / plain.runs[r]!.perSecond) * 100);
  const cpu = other.runs.map((run, r) => ((run.cpuMicros ?? 0) / (plain.runs[r]!.cpuMicros ?? 1) - 1) * 100);
  const cpuMicros = other.runs.map((run, r) => (run.cpuMicros ?? 0) - (plain.runs[r]!.cpuMicros ?? 0));
  return {
    throughput: spread(throughput),
    cpu: spread(cpu),
    cpuMicros: spread(cpuMicros),
    throughputInterval: medianInterval(throughput),
    cpuInterval: medianInterval(cpu),
  };
}

function row({ label, runs }: SettingRuns): string {
  const perSecond = spread(
    runs.map((r) => r.perSecond),
    0,
  );
  const cpu = spread(runs.map((r) => r.cpuMicros ?? 0));
  const p50 = spread(runs.map((r) => r.latency.p50));
  const p99 = spread(runs.map((r) => r.latency.p99));
  return `| ${label} | ${count(perSecond.median)} (${count(perSecond.min)}–${count(perSecond.max)}) | ${range(cpu)} | ${p50.median} | ${p99.median} |`;
}

export function securityMarkdown(result: SecurityResult): string {
  const [plain, signed, mixed, sealed] = result.settings;
  const signedCost = pairedCost(result, 1);
  const mixedCost = pairedCost(result, 2);
  const sealedCost = pairedCost(result, 3);
  const plainRate = spread(
    plain.runs.map((r) => r.perSecond),
    0,
  ).median;
  const plainCpu = spread(plain.runs.map((r) => r.cpuMicros ?? 0)).median;
  return `### What signing and encryption cost

${count(result.messages)} messages as fast as possible through the library's Streams path, each carrying a
token-like field: unsigned with the field in clear; signed (HMAC-SHA256 over the encoded envelope)
and verified before handling; signed and verified, and in one message of every ${MESSAGES_PER_SEALED_FIELD} the field sealed
as the system seals a payment token (a data key per token from HKDF-SHA256 over the X25519 agreement of its
batch and the token's own entry secret, AES-256-GCM), then opened and shredded in the handler, as in the system
(an order's ${MESSAGES_PER_SEALED_FIELD} bus messages carry one sealed payment token; the key entries are in memory here, in
Redis there); and signed, verified, with every message's field sealed with one AES-256-GCM key and
opened in the handler. The four settings run interleaved in the same process and
on the same Redis, ${result.rounds} rounds, each round forward or backward (alternating). Each cell: median
(min–max) over the ${result.rounds} runs. *CPU µs/msg*: the benchmark process's CPU time (user + system) per
message (Redis's own CPU not included), which the machine's load disturbs less than msgs/s.
*Cost*: per round, the setting against that round's unsigned run; median (min–max) over rounds.
Load average (1 min) before / after the runs: ${result.load[0]} / ${result.load[1]} (2 cores).
HMAC-SHA256 computed with: ${result.hmac} (\`BUS_NATIVE_HMAC\`; README, Configuration).

| path | msgs/s | CPU µs/msg | p50 ms | p99 ms |
|---|---:|---:|---:|---:|
${row(plain)}
${row(signed)}
${row(mixed)}
${row(sealed)}

**Throughput cost of signing + verifying: ${range(signedCost.throughput, "%")}** (target: under 10%);
in CPU per message ${range(signedCost.cpu, "%")}. **Signing + verifying + encryption at the system's mix: ${range(mixedCost.throughput, "%")}**
throughput, ${range(mixedCost.cpu, "%")} CPU. With a field sealed and opened in every message (the worst case;
the system never does it): ${range(sealedCost.throughput, "%")} throughput, ${range(sealedCost.cpu, "%")} CPU. Every message is signed and
verified; in the system only the payment token is sealed (once per order), not every message.
Measured alone in a tight loop (median (min–max) of 5 × 100,000): sign + verify
**${range(result.signMicros, " µs")} of CPU per message**, sign + verify + seal + open ${range(result.microsPerMessage, " µs")},
against ${round(1e6 / plainRate, 1)} µs of wall time and ${plainCpu} µs of CPU per unsigned message end to end here.

**Is it under 10%?** Paired CPU cost of signing + verifying: +${range(signedCost.cpuMicros, " µs")} per message.
${interval("throughput", signedCost.throughputInterval)}; ${interval("CPU", signedCost.cpuInterval)}.
With encryption at the system's mix: +${range(mixedCost.cpuMicros, " µs")} per message.
${interval("throughput", mixedCost.throughputInterval)}; ${interval("CPU", mixedCost.cpuInterval)}.
(A distribution-free interval of the median over rounds, from its order statistics, at least 90%
coverage: "below" only when the whole interval is below 10%, "undecided" when it spans 10%.)
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  checkNativeHmacSetting();
  const rounds = Number(process.argv[2] ?? 9);
  const messages = Number(process.argv[3] ?? 25_000);
  const redis = await startBenchRedis();
  try {
    console.log(securityMarkdown(await benchSecurity(redis.url, messages, rounds)));
  } finally {
    await redis.stop();
  }
}
