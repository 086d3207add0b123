/**
 * A stand-in process for launcher tests: reports ready after FIXTURE_READY_AFTER_MS (the order in
 * which processes come up is not the order they were listed in), or kills itself with SIGKILL at
 * start (FIXTURE_KILL_SELF=1), as the OOM killer or `kill -9` would. It holds no port.
 */
import { createLogger } from "../lib/observability/logger.js";
import { signalReady } from "../lib/runtime/launch-signal.js";

const label = process.env.FIXTURE_LABEL ?? "fixture";
if (process.env.FIXTURE_KILL_SELF === "1") process.kill(process.pid, "SIGKILL");
// FIXTURE_LOG_LINES=n: n start-up lines on the real (background-writing) stdout logger first.
const logger = createLogger({ service: label, level: "info" });
setTimeout(
  () => {
    for (let i = 0; i < Number(process.env.FIXTURE_LOG_LINES ?? 0); i++)
      logger.info({ i }, `start-up line ${i}`);
    void signalReady(label, `http://127.0.0.1/${label}`, logger);
  },
  Number(process.env.FIXTURE_READY_AFTER_MS ?? 0),
);
// Stays up until the launcher stops it.
setInterval(() => {}, 60_000);
