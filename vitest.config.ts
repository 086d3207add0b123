import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

/**
 * Test files run in parallel, at least 3 at a time. Most files wait on I/O (their own redis-server,
 * child processes, real HTTP), not on the CPU: with Vitest's default on the 2-core CI machine
 * (cores − 1 = one file at a time) the load average stayed near 1 and the suite took 1,179 s; 4 at
 * a time took 552 s with every file passing (2026-12-01, BENCHMARKS.md has no row for this: it is
 * the suite's wall time, not the system's speed). Every test already runs on a loaded machine
 * (free ports, private redis-servers, no fixed sleeps, timeouts with margin), which is what makes
 * this safe. `npx vitest run --maxWorkers=1` runs one file at a time.
 */
const maxWorkers = Math.max(3, availableParallelism() - 1);

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "examples/**/*.test.ts", "bench/**/*.test.ts"],
    passWithNoTests: false,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Development secrets of test Redis servers go to the OS temp dir, never the project's
    // .dev-secrets/ (a loaded run left files of gone test servers there: newuser13 F5).
    env: { DEV_SECRETS_DIR: process.env.DEV_SECRETS_DIR ?? join(tmpdir(), "ordersaga-test-dev-secrets") },
    maxWorkers,
    reporters: ["default"],
  },
});
