/**
 * `npm run chaos`: every fault, `--runs` times each with a different seed, over real processes and a
 * private Redis on loopback; after each run the oracle checks I-terminal, I-stock, I-money and I-once
 * over every order the run placed. Prints a table of faults × invariants (runs that held / runs).
 *
 *   npm run chaos -- --runs 20 --orders 10 --seed 1 [--faults none,kill-any] [--log chaos.log]
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createApiClient } from "../demo/client.js";
import { type Fault, FAULTS } from "./faults.js";
import { check, INVARIANTS, type Invariant, type Snapshot, type Verdict } from "./oracle.js";
import { startChaosSystem } from "./system.js";
import { placeOrders, seededRandom, settle, setupRun } from "./workload.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "20" },
    orders: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    faults: { type: "string" },
    log: { type: "string", default: "chaos.log" },
    /** Time an order may take to end and settle after its fault, ms. */
    "settle-ms": { type: "string", default: "90000" },
  },
});

const runs = Number(values.runs);
const orders = Number(values.orders);
const baseSeed = Number(values.seed);
const settleMs = Number(values["settle-ms"]);
const chosen = values.faults ? values.faults.split(",") : FAULTS.map((f) => f.name);
const faults = chosen.map((name) => {
  const fault = FAULTS.find((f) => f.name === name);
  if (!fault) throw new Error(`unknown fault ${name} (known: ${FAULTS.map((f) => f.name).join(", ")})`);
  return fault;
});

writeFileSync(values.log, "");
const system = await startChaosSystem(values.log);
// Ctrl-C or a SIGTERM stops every process and the private Redis too: nothing is left running.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void system.stop().finally(() => process.exit(130));
  });
}
const api = createApiClient(system.gatewayUrl);
const held = new Map<string, Record<Invariant, number>>();
const failures: string[] = [];

async function runOnce(fault: Fault, seed: number): Promise<{ verdict: Verdict; statuses: string }> {
  const random = seededRandom(seed);
  const workload = { orders, ...fault.workload };
  const setup = await setupRun(api, random, workload);
  const [placed] = await Promise.all([
    placeOrders(api, random, workload, setup),
    fault.during(system, random),
  ]);
  return summary(await settle(api, placed, settleMs));
}

function summary(snapshot: Snapshot): { verdict: Verdict; statuses: string } {
  const byStatus = new Map<string, number>();
  for (const o of snapshot.orders) byStatus.set(o.status ?? "?", (byStatus.get(o.status ?? "?") ?? 0) + 1);
  return { verdict: check(snapshot), statuses: [...byStatus].map(([s, n]) => `${s} ${n}`).join(", ") };
}

try {
  for (const fault of faults) {
    const counts = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<Invariant, number>;
    held.set(fault.name, counts);
    await fault.setUp?.(system);
    for (let run = 0; run < runs; run++) {
      const seed = baseSeed * 1_000 + run;
      const started = Date.now();
      // A run that cannot even be driven (the system did not recover) counts against every invariant.
      const { verdict, statuses } = await runOnce(fault, seed).catch((error: unknown) => {
        const message = `run failed: ${String(error)}`;
        return {
          verdict: Object.fromEntries(INVARIANTS.map((i) => [i, [message]])) as Verdict,
          statuses: "error",
        };
      });
      for (const invariant of INVARIANTS) {
        if (verdict[invariant].length === 0) counts[invariant]++;
        else
          failures.push(
            `${fault.name} seed ${seed} ${invariant}: ${verdict[invariant].slice(0, 3).join("; ")}`,
          );
      }
      const ok = INVARIANTS.every((i) => verdict[i].length === 0);
      console.log(
        `${fault.name} seed ${seed}: ${ok ? "ok" : "VIOLATED"} [${statuses}] (${Date.now() - started} ms)`,
      );
    }
    await fault.tearDown?.(system);
  }
} finally {
  await system.stop();
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
