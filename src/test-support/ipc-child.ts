/**
 * A process that stops the way every service and the gateway do (shutdownOnSignals), for tests of
 * what happens when its parent dies. Prints "starting" at once and "ready" once listening for its
 * parent; IPC_CHILD_START_MS: how long its start-up takes before that (the parent may die meanwhile);
 * IPC_CHILD_STOPPED_FILE: written by its graceful stop, so a test sees the stop ran (not a crash).
 */
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import { shutdownOnSignals } from "../lib/runtime/process.js";

// Its stdout is a pipe to the parent, gone once killed: like pino's (which drops output on EPIPE),
// a broken pipe must not crash it before its stop ran.
process.stdout.on("error", () => {});
const keepAlive = setInterval(() => {}, 1_000);
console.log("starting");
setTimeout(
  () => {
    shutdownOnSignals({
      logger: pino({ level: "silent" }),
      stop: async () => {
        clearInterval(keepAlive);
        const stoppedFile = process.env.IPC_CHILD_STOPPED_FILE;
        if (stoppedFile) writeFileSync(stoppedFile, "stopped");
      },
    });
    console.log("ready");
  },
  Number(process.env.IPC_CHILD_START_MS ?? 0),
);
