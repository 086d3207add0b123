/**
 * A process that stops the way every service and the gateway do (shutdownOnSignals), for tests of
 * what happens when its parent dies. Prints "ready" once listening for its parent.
 */
import { pino } from "pino";
import { shutdownOnSignals } from "../lib/runtime/process.js";

const keepAlive = setInterval(() => {}, 1_000);
shutdownOnSignals({
  logger: pino({ level: "silent" }),
  stop: async () => clearInterval(keepAlive),
});
console.log("ready");
