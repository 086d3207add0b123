/** `npm run start:services`: every service as its own process over Redis. */
import { parseArgs } from "node:util";
import { launch, parseInstances, planProcesses } from "./launcher.js";

const { values } = parseArgs({ options: { instances: { type: "string" } } });
const redisUrl = process.env.REDIS_URL ?? "redis://localhost:6379";
const system = launch(
  planProcesses({
    redisUrl,
    instances: parseInstances(values.instances),
    gatewayPort: Number(process.env.GATEWAY_PORT ?? 8080),
    ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
  }),
);
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log("stopping all services...");
  await system.stop();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
