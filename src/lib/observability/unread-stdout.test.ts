/**
 * A stdout nobody reads must not grow the process's memory without bound: pino's stream (sonic-boom)
 * keeps lines it cannot write yet in memory, and without a bound it kept them all (32 MiB here, and
 * more for as long as the process logged). Past `LOG_BUFFER_MAX_BYTES` lines are dropped instead.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { waitFor } from "../../test-support/wait.js";
import { LOG_BUFFER_MAX_BYTES } from "./logger.js";

const fixture = fileURLToPath(new URL("./unread-stdout.fixture.ts", import.meta.url));
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill("SIGKILL");
});

it("keeps at most LOG_BUFFER_MAX_BYTES of lines in memory when its stdout is never read", async () => {
  // stdout is a pipe this test never reads: once the kernel's buffer is full, nothing more leaves.
  const started = spawn(process.execPath, ["--import", "tsx", fixture], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child = started;
  let errors = "";
  started.stderr?.on("data", (chunk: Buffer) => (errors += chunk.toString()));
  const report = await waitFor(() => /buffered=(-?\d+)/.exec(errors), 60_000, "the fixture's report");
  const buffered = Number(report[1]);
  expect(buffered, errors).toBeGreaterThan(0);
  expect(buffered).toBeLessThanOrEqual(LOG_BUFFER_MAX_BYTES);
}, 90_000);
