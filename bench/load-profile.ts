/**
 * Where the CPU goes during a load run: CPU share of each process (from /proc), and the top self-time
 * functions and packages of a V8 `.cpuprofile` (written by `node --cpu-prof` at exit).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

const TICKS_PER_SEC = 100;

/** CPU seconds used so far by a process (user + system), or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
  } catch {
    return undefined;
  }
}

/** Samples CPU seconds of labelled processes; `stop()` returns each one's share of a core in %. */
export function watchCpu(pids: ReadonlyMap<string, number>): { stop(): Record<string, number> } {
  const started = performance.now();
  const before = new Map([...pids].map(([label, pid]) => [label, cpuSeconds(pid) ?? 0]));
  return {
    stop() {
      const seconds = (performance.now() - started) / 1000;
      const out: Record<string, number> = {};
      for (const [label, pid] of pids) {
        const used = (cpuSeconds(pid) ?? 0) - (before.get(label) ?? 0);
        out[label] = Math.round((used / seconds) * 100);
      }
      return out;
    },
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  /** Share of the sampled time, in %. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  seconds: number;
  functions: HotSpot[];
  packages: HotSpot[];
}

/** `node_modules/zod/...` → `zod`, `/src/lib/bus/x.ts` → `src/lib/bus`, `node:...` → `node internals`. */
function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "native / V8";
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod?.[1]) return mod[1];
  if (url.startsWith("node:")) return "node internals";
  // The compiled build (dist/) is reported under its source's name.
  const src = /\/(?:src|dist)\/([^/]+(?:\/[^/]+)?)\/[^/]+$/.exec(url);
  return src?.[1] ? `src/${src[1]}` : url.split("/").slice(-2).join("/");
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url
    ? url
        .replace(/^.*node_modules\//, "")
        .replace(/^.*\/(src|dist|bench)\//, (_, dir: string) => `${dir === "dist" ? "src" : dir}/`)
    : "";
  return file ? `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}` : functionName || "(anonymous)";
}

function top(totals: Map<string, number>, all: number, count: number): HotSpot[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, t]) => ({ name, percent: Math.round((t / all) * 1000) / 10 }));
}

export function summarizeProfileFile(file: string, count = 10): ProfileSummary {
  return summarizeProfile(file, JSON.parse(readFileSync(file, "utf8")) as CpuProfile, count);
}

export function summarizeProfile(file: string, profile: CpuProfile, count = 10): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node || node.callFrame.functionName === "(idle)") return;
    all += dt;
    const name = frameName(node);
    functions.set(name, (functions.get(name) ?? 0) + dt);
    const pkg = packageOf(node.callFrame.url, node.callFrame.functionName);
    packages.set(pkg, (packages.get(pkg) ?? 0) + dt);
  });
  return {
    file,
    seconds: Math.round(all / 1e5) / 10,
    functions: top(functions, all, count),
    packages: top(packages, all, count),
  };
}

/** The `.cpuprofile` files in a directory (one per process that exited with `--cpu-prof`). */
export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** Profiles this thread (the embedded system; not autocannon's worker) while `work` runs. */
export async function profileThisThread<T>(
  work: () => Promise<T>,
): Promise<{ result: T; profile: CpuProfile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
    const result = await work();
    const { profile } = (await session.post("Profiler.stop")) as { profile: CpuProfile };
    return { result, profile };
  } finally {
    session.disconnect();
  }
}

/**
 * Node 20 refuses `--cpu-prof` in NODE_OPTIONS, and the launcher picks the node flags itself, so
 * child processes are profiled by a preload (`--import` is allowed there) that starts the inspector
 * profiler once `start()` is called and writes `<pid>.cpuprofile` into `dir` at exit, or once
 * `stop()` is called (within 50 ms), so what a process does while it shuts down stays out.
 */
export function profilerPreload(dir: string): { nodeOptions: string; start(): void; stop(): void } {
  const file = join(dir, "cpu-prof-preload.mjs");
  const startFile = join(dir, "start");
  const stopFile = join(dir, "stop");
  writeFileSync(
    file,
    `import { Session } from "node:inspector";
import { existsSync, writeFileSync } from "node:fs";
const session = new Session();
session.connect();
session.post("Profiler.enable");
// Start only when the bench says the measured load begins, so start-up (tsx compiling) is left out.
let started = false;
let written = false;
const write = () => {
  if (!started || written) return;
  written = true;
  session.post("Profiler.stop", (error, result) => {
    if (!error) writeFileSync(${JSON.stringify(dir)} + "/" + process.pid + ".cpuprofile", JSON.stringify(result.profile));
  });
};
const poll = setInterval(() => {
  if (!started && existsSync(${JSON.stringify(startFile)})) {
    started = true;
    session.post("Profiler.start");
  }
  if (started && existsSync(${JSON.stringify(stopFile)})) {
    clearInterval(poll);
    write();
  }
}, 50);
poll.unref();
// Same-thread inspector calls complete synchronously, so this works inside an exit handler.
process.on("exit", write);
`,
  );
  return {
    nodeOptions: `--import ${file}`,
    start: () => writeFileSync(startFile, ""),
    stop: () => writeFileSync(stopFile, ""),
  };
}
