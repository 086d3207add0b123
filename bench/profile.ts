/**
 * `npx tsx bench/profile.ts [rate] [seconds]`: the "Where the time goes" profile of bench/load.ts on
 * its own — every process over Redis under `--cpu-prof` at `rate` orders/s (default 100) for
 * `seconds` (default 5) — printed for the three busiest processes.
 */
import { profileRedis } from "./load.js";
import { startBenchRedis } from "./support.js";

const rate = Number(process.argv[2] ?? 100);
const seconds = Number(process.argv[3] ?? 5);
const redis = await startBenchRedis();
try {
  for (const { label, summary } of await profileRedis(redis.url, rate, seconds)) {
    console.log(`**${label}** (${summary.seconds} s of CPU sampled)`);
    console.log(
      `- by package: ${summary.packages
        .slice(0, 8)
        .map((s) => `${s.percent}% ${s.name}`)
        .join("; ")}`,
    );
    console.log(
      `- top self-time functions: ${summary.functions
        .slice(0, 12)
        .map((s) => `${s.percent}% ${s.name}`)
        .join("; ")}`,
    );
  }
} finally {
  await redis.stop();
}
