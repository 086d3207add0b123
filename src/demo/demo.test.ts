import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("npm run demo", () => {
  it("runs the five scenarios on the embedded system and exits 0 with a passing summary", () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "silent" };
    delete env.REDIS_URL;
    const run = spawnSync(process.execPath, ["--import", "tsx", "src/demo/main.ts"], {
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.stdout).toContain("embedded (one process, in-memory bus and stores)");
    for (const n of [1, 2, 3, 4, 5]) expect(run.stdout).toMatch(new RegExp(`^PASS  ${n}\\. `, "m"));
    expect(run.stdout).toMatch(/^5 passed, 0 failed/m);
    expect(run.status).toBe(0);
  }, 90_000);
});
