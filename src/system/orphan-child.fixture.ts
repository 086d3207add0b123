/**
 * A child of `orphan-launcher.fixture.ts` (launcher-orphans.test.ts): it comes up like a service
 * (watchParent first, a pino logger on stdout, "ready" over IPC), and once its parent is gone it
 * does what ORPHAN_MODE says:
 * - `burst`: the graceful shutdown logs a burst of lines and exits in the same turn of the event
 *   loop, so pino's exit-time flushSync meets the dead launcher's pipe (EPIPE) with lines pending;
 * - `block`: the main thread blocks for good (as a write to a stuck stdout would), so only a
 *   watchdog outside the event loop can end the process.
 * ORPHAN_EXITED_FILE is written by the last 'exit' listener: the process got through its exit.
 */
import { writeFileSync } from "node:fs";
import { createLogger } from "../lib/observability/logger.js";
import { signalReady } from "../lib/runtime/launch-signal.js";
import { shutdownOnSignals, watchParent } from "../lib/runtime/process.js";

const parent = watchParent();
const mode = process.env.ORPHAN_MODE ?? "burst";
const logger = createLogger({ service: `orphan-${mode}`, level: "info" });
logger.info("started");
await signalReady(`orphan-${mode}`, `http://127.0.0.1:1/${process.pid}`, logger);
// After pino's own 'exit' listener (registered with the logger): reached only past its flushSync.
process.on("exit", () => {
  if (process.env.ORPHAN_EXITED_FILE) writeFileSync(process.env.ORPHAN_EXITED_FILE, String(process.pid));
});
if (mode === "block") {
  parent.whenGone(() => {
    logger.info("parent gone: blocking the main thread for good");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  });
} else {
  shutdownOnSignals({
    logger,
    parent,
    stop: async () => {
      for (let i = 0; i < 200; i++) logger.info({ i }, "a line logged while the parent is gone");
    },
  });
}
