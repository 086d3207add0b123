/**
 * `npm run bench`: runs the benchmarks on this machine and rewrites BENCHMARKS.md with the results,
 * the command and the machine. Raw-Redis baselines are measured in the same run.
 */
import { writeFileSync } from "node:fs";
import { type BusResult, benchBus } from "./bus.js";
import { machine, round, startBenchRedis } from "./support.js";

const row = (r: BusResult) =>
  `| ${r.label} | ${r.messages.toLocaleString("en-US")} | ${r.perSecond.toLocaleString("en-US")} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max} |`;

const redis = await startBenchRedis();
try {
  console.log("bus benchmark…");
  const bus = await benchBus(redis.url);
  const [raw, lib] = bus.throughput as [BusResult, BusResult];
  const [rawPaced, libPaced] = bus.paced as [BusResult, BusResult];
  const ratio = round((lib.perSecond / raw.perSecond) * 100, 1);
  const p99Ratio = round(libPaced.latency.p99 / Math.max(rawPaced.latency.p99, 0.01), 2);
  const report = `# Benchmarks

Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}.
Machine: ${machine()}; Redis: a private \`redis-server\` with AOF \`everysec\`, on loopback.
Load generator, consumers and Redis all share this machine.

## Event bus: publish → handled through Redis Streams

Throughput: ${raw.messages.toLocaleString("en-US")} messages published in batches of 100 as fast as
possible, timed until the last one is handled (one consumer). Latency is publish-to-handler per message.

| path | messages | msgs/s | p50 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|
${row(raw)}
${row(lib)}

**Library throughput: ${ratio}% of raw** (target ≥ 80%).

Latency at a steady ${bus.rate.toLocaleString("en-US")} messages/s for 3 s:

| path | messages | msgs/s | p50 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|
${row(rawPaced)}
${row(libPaced)}

**Library p99 / raw p99 at ${bus.rate.toLocaleString("en-US")} msgs/s: ${p99Ratio}×** (target ≤ 1.5×).

What the library does per message that the raw baseline does not: validates the payload with Zod on
publish and on receive, builds and parses the full envelope (UUIDv7 id, trace context, correlation),
and runs the subscriber's middleware chain; what both do: one JSON encode and one JSON decode, XADD in
one pipeline per batch, XREADGROUP in batches and XACK per message (the library pipelines them
through ioredis's auto-pipelining).
`;
  writeFileSync(new URL("../BENCHMARKS.md", import.meta.url), report);
  console.log(report);
} finally {
  await redis.stop();
}
