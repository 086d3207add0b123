/**
 * break33 F3: `npm run start:services -- --compiled` loaded the launcher itself through tsx, whose
 * esbuild helper process kept a copy of the launcher's whole environment (every Redis password and
 * key it hands out) for the whole run. With `--compiled` the launcher is the compiled build too.
 * Observed on the real npm script: every process under it, polled from /proc until it exits.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UNREACHABLE_PORT } from "../test-support/redis-server.js";
import { GATEWAY, SERVICES } from "./catalog.js";
import { assertFreshBuild } from "./launcher.js";

const freshBuild = (): boolean => {
  try {
    assertFreshBuild([GATEWAY.main, ...SERVICES.map((s) => s.main), "src/system/start-services.ts"]);
    return true;
  } catch {
    return false;
  }
};

/** pid → [parent pid, command line] of every process visible now. */
function processTable(): Map<number, [number, string]> {
  const table = new Map<number, [number, string]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ");
      table.set(Number(name), [ppid, cmdline]);
    } catch {
      // Gone meanwhile.
    }
  }
  return table;
}

function descendantsOf(root: number, table: Map<number, [number, string]>): string[] {
  const found: string[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, [ppid, cmdline]] of table)
      if (parents.has(ppid) && !parents.has(pid)) {
        parents.add(pid);
        found.push(cmdline);
        grew = true;
      }
  }
  return found;
}

/** Runs the npm script until it exits; returns its exit code, output and every process seen under it. */
async function runScript(
  args: string[],
): Promise<{ code: number | null; output: string; seen: Set<string> }> {
  const child = spawn("npm", ["run", "--silent", "start:services", "--", ...args], {
    env: {
      ...process.env,
      REDIS_URL: `redis://127.0.0.1:${UNREACHABLE_PORT}`,
      REDIS_CONNECT_TIMEOUT_MS: "3000",
      NODE_ENV: "development",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const seen = new Set<string>();
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  while (code === undefined) {
    for (const cmdline of descendantsOf(child.pid!, processTable())) seen.add(cmdline);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { code, output, seen };
}

describe.skipIf(!existsSync("/proc/self/stat"))("npm run start:services", () => {
  it.skipIf(!freshBuild())(
    "with --compiled runs the launcher from dist/ with no TypeScript loader process holding its environment",
    async () => {
      const { code, output, seen } = await runScript(["--compiled", "--any-port"]);
      // It ran up to its Redis wait (the launcher's own checks passed), then stopped with the reason;
      // no process under the script was tsx or esbuild (before: `node --import tsx ...` and esbuild).
      expect(output).toMatch(/Redis is unreachable/);
      expect(code).toBe(1);
      expect([...seen].filter((cmdline) => /esbuild|tsx/.test(cmdline))).toEqual([]);
    },
    30_000,
  );

  // tsx's transform cache may spare it the esbuild process: what shows is that the sources ran.
  it("without --compiled runs the launcher from the sources", async () => {
    const { code, output } = await runScript(["--any-port"]);
    expect(output).toMatch(/Redis is unreachable/);
    expect(code).toBe(1);
  }, 30_000);
});
