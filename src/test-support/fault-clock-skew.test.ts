import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { faultClockSkewEnv } from "./fault-clock-skew.js";

const run = promisify(execFile);

/** Starts a child Node process with `env` and returns what its clock reads, against this one's. */
async function childClockOffset(env: Record<string, string>): Promise<{ now: number; date: number }> {
  const script =
    "const a = Date.now(); const b = new Date().getTime(); console.log(JSON.stringify({ a, b, fixed: new Date(0).getTime() }))";
  const before = Date.now();
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, ...env },
  });
  const after = Date.now();
  const { a, b, fixed } = JSON.parse(stdout) as { a: number; b: number; fixed: number };
  expect(fixed).toBe(0); // a date given its time is never shifted
  expect(a).toBeGreaterThanOrEqual(before - 1 + Number(env.ORDERSAGA_FAULT_CLOCK_OFFSET_MS ?? 0));
  expect(a).toBeLessThanOrEqual(after + 1 + Number(env.ORDERSAGA_FAULT_CLOCK_OFFSET_MS ?? 0));
  return { now: a - before, date: b - before };
}

describe("clock-skew fault hook (a child process whose clock is set off)", () => {
  it("shifts Date.now() and new Date() of the child it is preloaded into, ahead and behind", async () => {
    for (const offset of [3_600_000, -3_600_000]) {
      const { now, date } = await childClockOffset(faultClockSkewEnv(offset));
      expect(Math.sign(now)).toBe(Math.sign(offset));
      expect(Math.sign(date)).toBe(Math.sign(offset));
    }
  }, 30_000);

  it("leaves a child started without it alone", async () => {
    const { now } = await childClockOffset({});
    expect(Math.abs(now)).toBeLessThan(30_000);
  }, 30_000);
});
