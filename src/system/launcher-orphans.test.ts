/**
 * Break9 F7, with real processes (`npm run start:services` as a child, over a real Redis): a
 * launcher killed with SIGKILL, during start-up or once its system is up, leaves no process behind.
 * Its children used to watch the IPC channel only if it was still open when their shutdown handler
 * was set up (after start-up): killed mid-start, all 7 kept running and registered for ever, and
 * every later start was refused as "system already running".
 */
import { readdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { afterAll, expect, it } from "vitest";
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
