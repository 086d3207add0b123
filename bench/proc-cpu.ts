/**
 * CPU of a process tree from `/proc` (Linux): utime + stime of each process, all threads included.
 * Pure arithmetic in ./order-cost.ts; this file only reads.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpuSecondsBetween, type ProcStat, parseProcStat, processTree } from "./order-cost.js";

/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked). */
export const TICKS_PER_SECOND = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(out.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

function allStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseProcStat(readFileSync(`/proc/${name}/stat`, "utf8"));
      if (stat) stats.push(stat);
    } catch {
      // exited between readdir and read: not ours to count
    }
  }
  return stats;
}

/** A snapshot of `roots` and all their descendants. */
export function snapshotTree(roots: readonly number[]): ProcStat[] {
  return processTree(allStats(), roots);
}

/** Starts a CPU window over `roots`' trees; `stop()` gives the CPU seconds they used since. */
export function cpuWindow(roots: readonly number[]): { stop(): number } {
  const before = snapshotTree(roots);
  return { stop: () => cpuSecondsBetween(before, snapshotTree(roots), TICKS_PER_SECOND) };
}
