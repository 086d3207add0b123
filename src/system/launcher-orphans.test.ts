/**
 * Break9 F7, with real processes (`npm run start:services` as a child, over a real Redis): a
 * launcher killed with SIGKILL, during start-up or once its system is up, leaves no process behind.
 * Its children used to watch the IPC channel only if it was still open when their shutdown handler
 * was set up (after start-up): killed mid-start, all 7 kept running and registered for ever, and
 * every later start was refused as "system already running".
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { bannerGateway, type ChildRun, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { DEFAULT_SLOT, LAUNCHER_SLOT_LEASE_MS, launcherSlotKey } from "./launch-guard.js";

const startServices = (env: Record<string, string>): ChildRun =>
  runEntryPoint("src/system/start-services.ts", ["--any-port"], { LOG_LEVEL: "warn", ...env });

/** The processes of the launcher's process group (runEntryPoint starts it detached): its children. */
function groupMembers(launcherPid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name) && Number(name) !== launcherPid)
    .filter((name) => {
      try {
        // The fields after the command's closing parenthesis: state ppid pgrp ...
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return fields[0] !== "Z" && Number(fields[2]) === launcherPid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

afterAll(killRuns);

// Seven node processes compiling TypeScript on a shared 2-core machine: minutes, not seconds.
const START_MS = 240_000;
// A child stops gracefully once its start-up ends, or gives it up 15 s after its parent died.
const GONE_MS = 60_000;

describeWithRedis("a launcher killed with SIGKILL", (getRedis) => {
  const registered = async () =>
    (await new RedisServiceRegistry({ redis: getRedis().client() }).list()).map(
      (i) => `${i.service} ${i.instanceId}`,
    );

  async function killAndExpectNoOrphans(run: ChildRun, when: string): Promise<void> {
    const launcher = run.child.pid!;
    const children = groupMembers(launcher);
    expect(children.length, `children ${when}`).toBeGreaterThan(0);
    process.kill(launcher, "SIGKILL");
    await waitFor(() => groupMembers(launcher).length === 0, GONE_MS, `no child left ${when}`).catch(
      (error: Error) => {
        throw new Error(
          `${error.message}: ${groupMembers(launcher).join(" ")}\n${run.output().slice(-3000)}`,
        );
      },
    );
    // Deregistered on their way out (or, for one that gave up its start, expired by its TTL).
    await waitFor(async () => (await registered()).length === 0, GONE_MS, `registry empty ${when}`);
  }

  it(
    "leaves no child running, killed right after spawning them or once up, and a new start comes up",
    async () => {
      const env = { REDIS_URL: getRedis().url, HEARTBEAT_INTERVAL_MS: "1000" };
      // 1. Killed as soon as its first child exists: every child is still starting.
      const early = startServices(env);
      await waitFor(() => groupMembers(early.child.pid!).length > 0, START_MS, "a first child", 10);
      await killAndExpectNoOrphans(early, "after a kill during start-up");

      // 2. Not refused as "already running": it comes up, then is killed once up. The killed
      // launcher could not give its slot back: it lapses with its lease (children may be gone sooner).
      const slot = launcherSlotKey(hostname(), DEFAULT_SLOT);
      await waitFor(
        async () => (await getRedis().client().exists(slot)) === 0,
        LAUNCHER_SLOT_LEASE_MS + GONE_MS,
        "the killed launcher's slot lapses",
      );
      const second = startServices(env);
      await bannerGateway(second, START_MS, "the second start's banner");
      expect((await registered()).length).toBeGreaterThanOrEqual(7);
      await killAndExpectNoOrphans(second, "after a kill once up");
    },
    START_MS * 2 + GONE_MS * 4 + 60_000,
  );
});

/** Whether `pid` still runs (a zombie, exited but not yet reaped by init, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

// Break11 F2: a child of a launcher killed with SIGKILL stayed for good, its main thread in
// Atomics.wait: pino's exit-time flushSync (sonic-boom) retries a write that fails with EPIPE (the
// dead launcher's pipe) every 100 ms, for ever. One fixture child, no Redis: deterministic.
describe("a child of a launcher killed with SIGKILL", () => {
  async function orphanAfterKill(mode: "burst" | "block"): Promise<{ pid: number; exitedFile: string }> {
    const exitedFile = join(mkdtempSync(join(tmpdir(), "orphan9-")), "exited");
    const run = runEntryPoint("src/system/orphan-launcher.fixture.ts", [], {
      ORPHAN_MODE: mode,
      ORPHAN_EXITED_FILE: exitedFile,
    });
    const up = await waitFor(
      () => /fixture up: child (\d+)/.exec(run.output()),
      START_MS,
      "the fixture child up",
      50,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${run.output().slice(-3000)}`);
    });
    const pid = Number(up[1]);
    expect(alive(pid), "the fixture child runs").toBe(true);
    process.kill(run.child.pid!, "SIGKILL");
    // Generous: the bound is what the child guarantees (its watchdog: ~20 s), plus a loaded machine.
    await waitFor(() => !alive(pid), GONE_MS, `child ${pid} gone (${mode})`, 100);
    return { pid, exitedFile };
  }

  it(
    "exits through its graceful shutdown although it logs a burst as it exits onto the dead pipe",
    async () => {
      const { pid, exitedFile } = await orphanAfterKill("burst");
      // Its last 'exit' listener ran: it got past pino's flush, not killed by the watchdog.
      expect(existsSync(exitedFile) && readFileSync(exitedFile, "utf8")).toBe(String(pid));
      rmSync(dirname(exitedFile), { recursive: true, force: true });
    },
    START_MS + GONE_MS + 30_000,
  );

  it(
    "is ended by its watchdog when its main thread is blocked for good",
    async () => {
      const { exitedFile } = await orphanAfterKill("block");
      expect(existsSync(exitedFile), "no exit listener ran: killed from outside the event loop").toBe(false);
      rmSync(dirname(exitedFile), { recursive: true, force: true });
    },
    START_MS + GONE_MS + 30_000,
  );
});
