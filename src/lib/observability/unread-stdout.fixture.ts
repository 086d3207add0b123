/**
 * A process whose stdout nobody reads (a paused terminal, a launcher whose own output is stuck):
 * logs 32 MiB of lines, then prints on stderr how many bytes its stdout stream still holds in memory.
 */
import { pino } from "pino";
import { createLogger } from "./logger.js";

const logger = createLogger({ service: "fixture", level: "info" });
const line = "x".repeat(1_024);
for (let round = 0; round < 32; round += 1) {
  for (let i = 0; i < 1_024; i += 1) logger.info({ round, i }, line);
  await new Promise((resolve) => setImmediate(resolve));
}
await new Promise((resolve) => setTimeout(resolve, 200));
const stream = (logger as unknown as Record<symbol, { _len?: number }>)[pino.symbols.streamSym];
process.stderr.write(`buffered=${stream?._len ?? -1}\n`);
