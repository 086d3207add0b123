// Preloaded into every process of a soak run (NODE_OPTIONS="--expose-gc --import <this file>"),
// never in production. Plain JavaScript: it loads before tsx.
//
// - SIGUSR2 runs a full garbage collection, so the next /metrics scrape reads the heap the process
//   really retains, not a point anywhere on the collector's sawtooth: a leak of a few KB per order
//   shows within a 2-minute run (bench/soak-sampler.ts sends it before each heap reading).
// - SOAK_LEAK_BYTES_PER_SECOND with SOAK_LEAK_PROCESS (a substring of the main module's path, e.g.
//   "services/user") makes that process keep that much heap each second: the deliberate leak the
//   soak's heap gate is proven against (bench/soak-heap-gate.test.ts, `npm run soak -- --leak`).

/* global process, setInterval */

// Installed even without --expose-gc: SIGUSR2's default action would end the process.
process.on("SIGUSR2", () => {
  if (typeof globalThis.gc === "function") globalThis.gc();
});

const leakBytesPerSecond = Number(process.env.SOAK_LEAK_BYTES_PER_SECOND ?? 0);
const leakProcess = process.env.SOAK_LEAK_PROCESS ?? "";
if (leakBytesPerSecond > 0 && (process.argv[1] ?? "").includes(leakProcess)) {
  const kept = [];
  const startedAt = Date.now();
  let keptDoubles = 0;
  // Arrays of doubles live on the V8 heap (8 bytes each), unlike Buffers. Each tick keeps what is
  // owed since the start, not a fixed amount: on a loaded machine ticks come late (a fixed amount
  // per tick leaked half the rate, and the heap gate's test missed the leak).
  setInterval(() => {
    const owed = Math.floor(((Date.now() - startedAt) / 1000) * (leakBytesPerSecond / 8)) - keptDoubles;
    if (owed <= 0) return;
    kept.push(new Array(owed).fill(1.5));
    keptDoubles += owed;
  }, 100).unref();
}
