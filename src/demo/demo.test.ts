import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("npm run demo", () => {
  it("runs the five scenarios on the embedded system and exits 0 with a passing summary", () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.REDIS_URL;
    delete env.LOG_LEVEL; // the default a new user gets
    const run = spawnSync(process.execPath, ["--import", "tsx", "src/demo/main.ts"], {
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.stdout).toContain("embedded (one process, in-memory bus and stores)");
    for (const n of [1, 2, 3, 4, 5]) expect(run.stdout).toMatch(new RegExp(`^PASS  ${n}\\. `, "m"));
    expect(run.stdout).toMatch(/^5 passed, 0 failed/m);
    expect(run.status).toBe(0);
    // Only the demo's own lines: a raw JSON log line (scenario 4's expected CARRIER_UNAVAILABLE
    // retry, at "warn") puzzled the new-user trial.
    expect(`${run.stdout}${run.stderr}`.split("\n").filter((line) => line.startsWith("{"))).toEqual([]);
  }, 90_000);
});
