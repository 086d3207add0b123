/**
 * `npm run chaos`: every fault, `--runs` times each with a different seed, over real processes and a
 * private Redis on loopback; after each run the oracle checks I-terminal, I-stock, I-money and I-once
 * over every order the run placed. Prints a table of faults × invariants (runs that held / runs).
 *
 *   npm run chaos -- --runs 20 --orders 10 --seed 1 [--faults none,kill-any] [--log chaos.log]
 *   npm run chaos -- --help
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createApiClient } from "../demo/client.js";
import { type Fault, FAULTS } from "./faults.js";
import { check, failureReason, INVARIANTS, type Invariant, type Verdict } from "./oracle.js";
import { type ChaosSystem, DEFAULT_START_TIMEOUT_MS, startChaosSystem } from "./system.js";
import { placeOrders, seededRandom, settle, setupRun } from "./workload.js";

const USAGE = `Usage: npm run chaos -- [options]

Every fault, --runs times each with its own seed, over real processes and a private redis-server;
after each run the oracle checks I-terminal, I-stock, I-money, I-once over every order placed.

  --runs N               runs per fault (default 20)
  --orders N             orders per run (default 10)
  --seed N               base seed; run r of a fault uses seed*1000 + r (default 1)
  --faults a,b           only these faults (default all): ${FAULTS.map((f) => f.name).join(", ")}
  --log FILE             every process's log lines, prefixed [service#n] (default chaos.log)
  --settle-ms MS         time an order may take to end and settle after its fault (default 90000)
  --start-timeout-ms MS  time the system has to come up (default ${DEFAULT_START_TIMEOUT_MS}; raise it on a loaded machine)
  -h, --help             this text
`;

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        runs: { type: "string", default: "20" },
        orders: { type: "string", default: "10" },
        seed: { type: "string", default: "1" },
        faults: { type: "string" },
        log: { type: "string", default: "chaos.log" },
        "settle-ms": { type: "string", default: "90000" },
        "start-timeout-ms": { type: "string", default: String(DEFAULT_START_TIMEOUT_MS) },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(2);
  }
}

const values = parseCommandLine();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

/** A whole number >= min from an option, or exit 2 naming it. */
function count(name: string, text: string, min: number): number {
  const n = Number(text);
  if (Number.isInteger(n) && n >= min) return n;
  process.stderr.write(`chaos: --${name} must be a whole number >= ${min} (got ${text})\n\n${USAGE}`);
  process.exit(2);
}

const runs = count("runs", values.runs, 1);
const orders = count("orders", values.orders, 1);
const baseSeed = count("seed", values.seed, 0);
const settleMs = count("settle-ms", values["settle-ms"], 1);
const startTimeoutMs = count("start-timeout-ms", values["start-timeout-ms"], 1);
const chosen = values.faults ? values.faults.split(",") : FAULTS.map((f) => f.name);
const faults = chosen.map((name) => {
  const fault = FAULTS.find((f) => f.name === name);
  if (!fault) {
    process.stderr.write(`chaos: unknown fault ${name} (known: ${FAULTS.map((f) => f.name).join(", ")})\n`);
    process.exit(2);
  }
  return fault;
});

writeFileSync(values.log, "");
// Ctrl-C or a SIGTERM, during the start or a run, stops every process it started and the private
// Redis (with its temp dir): nothing is left running (newuser F12).
const aborted = new AbortController();
const started: { system?: ChaosSystem } = {};
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const) {
  process.once(signal, () => {
    process.stderr.write(`chaos: ${signal}: stopping the system\n`);
    aborted.abort(new Error(signal));
    if (started.system) void started.system.stop().finally(() => process.exit(code));
    else process.exitCode = code; // the start's own cleanup runs, then the process ends
  });
}
console.log(`starting the system (up to ${startTimeoutMs} ms; logs in ${values.log})`);
const chaos = await startChaosSystem(values.log, { startTimeoutMs, signal: aborted.signal }).catch(
  (error: unknown): never => {
    // Everything it started is stopped already (startChaosSystem cleans up on every failure).
    if (aborted.signal.aborted) process.exit(process.exitCode ?? 130);
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
started.system = chaos;
const api = createApiClient(chaos.gatewayUrl);
const held = new Map<string, Record<Invariant, number>>();
const failures: string[] = [];

interface RunResult {
  verdict: Verdict;
  statuses: string;
  /** What the fault's run had to show and did not (`Fault.expect`). */
  unmet: string[];
  /** "reason ×n" for the failed orders. */
  reasons: string;
}

async function runOnce(fault: Fault, seed: number): Promise<RunResult> {
  const random = seededRandom(seed);
  const workload = { orders, ...fault.workload };
  const setup = await setupRun(api, random, workload);
  const [placed] = await Promise.all([
    placeOrders(api, random, workload, setup),
    fault.during(chaos, random),
  ]);
  const snapshot = await settle(api, placed, settleMs);
  const byStatus = new Map<string, number>();
  const byReason = new Map<string, number>();
  for (const o of snapshot.orders) {
    byStatus.set(o.status ?? "?", (byStatus.get(o.status ?? "?") ?? 0) + 1);
    if (o.status === "failed") {
      const reason = failureReason(o) ?? "no reason recorded";
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
  }
  return {
    verdict: check(snapshot),
    statuses: [...byStatus].map(([s, n]) => `${s} ${n}`).join(", "),
    unmet: fault.expect?.(snapshot, placed) ?? [],
    reasons: [...byReason].map(([r, n]) => `"${r}" ×${n}`).join(", "),
  };
}

try {
  for (const fault of faults) {
    const counts = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<Invariant, number>;
    held.set(fault.name, counts);
    await fault.setUp?.(chaos);
    for (let run = 0; run < runs; run++) {
      const seed = baseSeed * 1_000 + run;
      const started = Date.now();
      // A run that cannot even be driven (the system did not recover) counts against every invariant.
      const { verdict, statuses, unmet, reasons } = await runOnce(fault, seed).catch(
        (error: unknown): RunResult => {
          const message = `run failed: ${String(error)}`;
          return {
            verdict: Object.fromEntries(INVARIANTS.map((i) => [i, [message]])) as Verdict,
            statuses: "error",
            unmet: [],
            reasons: "",
          };
        },
      );
      for (const invariant of INVARIANTS) {
        if (verdict[invariant].length === 0) counts[invariant]++;
        else
          failures.push(
            `${fault.name} seed ${seed} ${invariant}: ${verdict[invariant].slice(0, 3).join("; ")}`,
          );
      }
      for (const problem of unmet.slice(0, 3))
        failures.push(`${fault.name} seed ${seed} expected: ${problem}`);
      const ok = INVARIANTS.every((i) => verdict[i].length === 0) && unmet.length === 0;
      console.log(
        `${fault.name} seed ${seed}: ${ok ? "ok" : "VIOLATED"} [${statuses}] (${Date.now() - started} ms)` +
          (reasons ? `\n  failed: ${reasons}` : ""),
      );
    }
    await fault.tearDown?.(chaos);
  }
} finally {
  await chaos.stop();
}

console.log(
  `\nnpm run chaos -- --runs ${runs} --orders ${orders} --seed ${baseSeed}${values.faults ? ` --faults ${values.faults}` : ""}\n`,
);
console.log(`| fault | what | ${INVARIANTS.join(" | ")} |`);
console.log(`|---|---|${INVARIANTS.map(() => "---").join("|")}|`);
for (const fault of faults) {
  const counts = held.get(fault.name);
  if (!counts) continue;
  console.log(
    `| ${fault.name} | ${fault.what} | ${INVARIANTS.map((i) => `${counts[i]}/${runs}`).join(" | ")} |`,
  );
}
for (const failure of failures) console.log(`VIOLATION ${failure}`);
process.exitCode = failures.length === 0 ? 0 : 1;
