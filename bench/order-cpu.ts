/**
 * CPU of the order process per completed order on the saga path (issue 14, brief order14):
 *
 *   npx tsx bench/order-cpu.ts [orders] [rate] [profile.cpuprofile]    (defaults 2000, 150)
 *
 * Every service and the gateway as their own processes over a private redis-server (compiled build
 * of the current directory, which must be fresh: run `npm run build` first), a 1 s warm-up, then
 * `orders` orders at `rate`/s; prints the order process's utime + stime (from /proc) per completed
 * order, from the first POST until every order has an outcome, and the same for every process.
 * With a third argument the order process runs under the inspector profiler for the measured load and
 * its profile is written there. Run it from two checkouts in turn (interleaved) for an A/B.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drain, seedOrderBody, watchOutcomes } from "./load-completion.js";
import { driveOrders } from "./load-driver.js";
import { cpuSeconds, profilerPreload, profilesIn } from "./load-profile.js";
import { startMultiProcess } from "./load-systems.js";
import { startBenchRedis } from "./support.js";

const orders = Number(process.argv[2] ?? 2000);
const rate = Number(process.argv[3] ?? 150);
const profileOut = process.argv[4];

const redis = await startBenchRedis();
const dir = mkdtempSync(join(tmpdir(), "order-cpu-"));
try {
  const profiler = profilerPreload(dir);
  const target = await startMultiProcess(
    redis.url,
    profileOut ? { NODE_OPTIONS: profiler.nodeOptions } : {},
    true,
  );
  const outcomes = await watchOutcomes(target.transport, "bench-order-cpu");
  // One label for both readings: with several order instances the labels are `order#0`, ….
  const orderLabel = target.pids.has("order")
    ? "order"
    : ([...target.pids.keys()].find((l) => l.startsWith("order")) ?? "order");
  const orderPid = target.pids.get(orderLabel) ?? -1;
  try {
    const body = await seedOrderBody(target.gatewayUrl, `cpu-${Date.now()}`);
    const warm = await driveOrders({ gatewayUrl: target.gatewayUrl, body, ratePerSec: rate, durationSec: 1 });
    await drain(warm, outcomes, 10_000);
    const before = new Map([...target.pids].map(([l, p]) => [l, cpuSeconds(p) ?? 0]));
    const done0 = outcomes.shipped.size + outcomes.failed.size;
    if (profileOut) profiler.start();
    const drive = await driveOrders({
      gatewayUrl: target.gatewayUrl,
      body,
      ratePerSec: rate,
      durationSec: orders / rate,
    });
    await drain(drive, outcomes, 30_000);
    // The profile covers the measured load, not the shutdown after it.
    if (profileOut) profiler.stop();
    const completed = outcomes.shipped.size + outcomes.failed.size - done0;
    const per: string[] = [];
    let all = 0;
    for (const [label, pid] of target.pids) {
      const used = (cpuSeconds(pid) ?? 0) - (before.get(label) ?? 0);
      all += used;
      per.push(`${label} ${((used * 1000) / completed).toFixed(3)}`);
    }
    const order = (cpuSeconds(orderPid) ?? 0) - (before.get(orderLabel) ?? 0);
    console.log(
      `order-cpu: ${((order * 1000) / completed).toFixed(3)} ms/order (order process), ` +
        `${((all * 1000) / completed).toFixed(3)} ms/order (services+gateway), completed ${completed}/${drive.accepted}`,
    );
    console.log(`per process ms/order: ${per.join(", ")}`);
  } finally {
    await outcomes.stop();
    await target.stop();
  }
  if (profileOut) {
    const file = profilesIn(dir).find((f) => f.endsWith(`/${orderPid}.cpuprofile`));
    if (file) copyFileSync(file, profileOut);
    else console.log("no profile written for the order process");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await redis.stop();
}
