/** `npm start`: the whole system in one process (in-memory, or Redis when REDIS_URL is set). */
import { parseEnv } from "../lib/runtime/config.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { retentionEnvSchema, retentionFromEnv } from "../lib/runtime/retention.js";
import { startEmbeddedSystem } from "./embedded.js";

const port = Number(process.env.GATEWAY_PORT ?? 8080);
const retention = retentionFromEnv(parseEnv(retentionEnvSchema));
const platform = process.env.REDIS_URL
  ? createRedisPlatform({ url: process.env.REDIS_URL, retention })
  : undefined;
const system = await startEmbeddedSystem({
  gatewayPort: port,
  ...(platform ? { platform } : {}),
  ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
});
const where = [
  ["gateway", system.gatewayUrl],
  ...system.services.map((s) => [s.name, s.url] as const),
] as const;
const width = Math.max(...where.map(([name]) => name.length));
console.log(
  `\nOrdersaga is up (${system.platform.mode} mode):\n` +
    where.map(([name, url]) => `  ${name.padEnd(width)}  ${url}`).join("\n") +
    `\n  metrics of everything: ${system.gatewayUrl}/metrics\n  try: curl ${system.gatewayUrl}/inventory\n`,
);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await system.stop();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
