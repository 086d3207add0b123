/**
 * How the soak tells that a probed process is gone or was replaced: its start time in /proc, read
 * when probed, no longer matches (a real child process, killed and reaped).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { expect, it } from "vitest";
import { startTicks } from "./soak-sampler.js";

it("reads a live process's start time, the same on every read, and none once it exited", async () => {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  try {
    const pid = child.pid!;
    const first = startTicks(pid);
    expect(first).toMatch(/^\d+$/);
    expect(startTicks(pid)).toBe(first);
    // Another process (this one) has another start time: a reused pid would not match.
    expect(startTicks(process.pid)).not.toBe(first);
  } finally {
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
  expect(startTicks(child.pid!)).toBeUndefined();
}, 60_000);
