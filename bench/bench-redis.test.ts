/**
 * New-user bench finding 5: an interrupted benchmark left its private redis-server's temp dir
 * (`/tmp/ordersaga-redis-*`, tens of MB of AOF) behind, and after a kill -9 the redis-server itself
 * kept running under init. Over a real redis-server, through a stand-in benchmark process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { externalRedis, redisAvailable } from "../src/test-support/redis-server.js";
import { waitFor } from "../src/test-support/wait.js";

const fixture = fileURLToPath(new URL("./bench-redis.fixture.ts", import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];
const redisPids: number[] = [];

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  // A server left running (a failed case) dies before its dir is removed: it could write into it.
  for (const pid of redisPids) {
    try {
      if (running(pid)) process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
    await waitFor(() => !running(pid), 10_000, `redis-server ${pid} gone`).catch(() => {});
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  stderr: string[];
  stdout: string[];
  exited: Promise<number | null>;
  url: string;
  dir: string;
  pid: number;
}

async function startBench(env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  children.push(child);
  const stderr: string[] = [];
  child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const stdout: string[] = [];
  lines.on("line", (line) => stdout.push(line));
  const line = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`fixture exited (${code}): ${stderr.join("")}`)));
    lines.once("line", resolve);
  });
  const info = JSON.parse(line) as { url: string; dir: string; pid: number };
  dirs.push(info.dir);
  redisPids.push(info.pid);
  return { child, stderr, stdout, exited, ...info };
}

/** Running: its /proc entry exists and it is not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe.skipIf(!redisAvailable || externalRedis)("the benchmarks' private redis-server", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`on ${signal}, is stopped and its temp dir removed; the benchmark says so and exits ${code}`, async () => {
      const bench = await startBench();
      expect(existsSync(bench.dir)).toBe(true);
      expect(running(bench.pid)).toBe(true);
      bench.child.kill(signal);
      expect(await bench.exited).toBe(code);
      expect(existsSync(bench.dir)).toBe(false);
      await waitFor(() => !running(bench.pid), 10_000, "redis-server gone");
      expect(bench.stderr.join("")).toContain(`bench: ${signal}: stopping the private redis-server`);
    }, 60_000);
  }

  it("a second Ctrl-C while stopping (the tsx launcher relays the group's SIGINT) does not cut the cleanup short", async () => {
    const bench = await startBench();
    bench.child.kill("SIGINT");
    await waitFor(
      () => bench.stderr.join("").includes("bench: SIGINT"),
      10_000,
      "the first SIGINT handled",
      1,
    );
    bench.child.kill("SIGINT");
    expect(await bench.exited).toBe(130);
    expect(existsSync(bench.dir)).toBe(false);
    await waitFor(() => !running(bench.pid), 10_000, "redis-server gone");
  }, 60_000);

  it("stopped twice at once (a signal during the benchmark's own stop), the second waits for the first", async () => {
    const bench = await startBench({ FIXTURE_STOP_TWICE: "1" });
    expect(await bench.exited).toBe(0);
    expect(JSON.parse(bench.stdout.at(-1)!)).toEqual({ order: ["first", "second"] });
    expect(existsSync(bench.dir)).toBe(false);
  }, 60_000);

  it.skipIf(process.platform !== "linux")(
    "dies with the benchmark on a kill -9",
    async () => {
      const bench = await startBench();
      bench.child.kill("SIGKILL");
      await bench.exited;
      await waitFor(() => !running(bench.pid), 10_000, "redis-server killed with its parent");
    },
    60_000,
  );
});
