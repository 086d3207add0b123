/**
 * A node entry point run as a real child process through tsx, for tests of what a user sees at
 * start: its output (stdout and stderr together) and its exit code. Each child gets its own process
 * group, so `killRuns()` also kills what it started (a launcher's services).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { waitFor } from "./wait.js";

export interface ChildRun {
  child: ChildProcess;
  /** Everything written so far, stdout and stderr interleaved as they arrived. */
  output: () => string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];

/** Runs `node --import tsx <main> ...args` with `process.env` plus `env`. */
export function runEntryPoint(main: string, args: readonly string[], env: Record<string, string>): ChildRun {
  const child = spawn(process.execPath, ["--import", "tsx", main, ...args], {
    // A launcher's kept development secrets (src/system/dev-secrets.ts) go to the OS temp dir, not
    // the project's .dev-secrets/ (one file per test Redis port otherwise).
    env: { DEV_SECRETS_DIR: join(tmpdir(), "ordersaga-test-dev-secrets"), ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.push(child);
  let text = "";
  child.stdout!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => text, exited };
}

/** The exit code, or "still running" when the process did not exit within `ms` (a generous bound). */
export const exitWithin = (run: ChildRun, ms: number): Promise<number | null | "still running"> =>
  Promise.race([
    run.exited,
    new Promise<"still running">((res) => setTimeout(() => res("still running"), ms)),
  ]);

/** SIGKILLs every child started by `runEntryPoint` and its process group (call in afterEach/afterAll). */
export function killRuns(): void {
  for (const child of running.splice(0)) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
  }
}

/**
 * The gateway URL of the start-up banner (`npm start`, `npm run start:services`) once printed; a
 * timeout names what it waited for with the run's last 3,000 characters of output.
 */
export async function bannerGateway(run: ChildRun, timeoutMs: number, what = "the banner"): Promise<string> {
  const match = await waitFor(
    () => /gateway\s+(http:\/\/\S+)/.exec(run.output()),
    timeoutMs,
    what,
    100,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${run.output().slice(-3000)}`);
  });
  return match[1]!;
}

/**
 * The children a test file spawns, SIGKILLed after each test (those still running): push each
 * spawned child into the returned array.
 */
export function childrenKilledAfterEach(): ChildProcess[] {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
  });
  return children;
}

/**
 * Starts `main` through tsx with an IPC channel (as the launcher does) and exactly `env`;
 * resolves once it reports ready ("ready") or exits (its code), with its output so far. The child
 * goes into `children` (e.g. `childrenKilledAfterEach()`'s).
 */
export async function startUntilReady(
  main: string,
  env: NodeJS.ProcessEnv,
  children: ChildProcess[],
): Promise<{ outcome: "ready" | number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    env,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const outcome = await new Promise<"ready" | number | null>((resolve) => {
    child.on("message", (m: { type?: string }) => m.type === "ordersaga:ready" && resolve("ready"));
    child.once("exit", (code) => resolve(code));
  });
  return { outcome, output };
}
