/**
 * What lease renewal costs (issue 9): the library's Streams path with renewal off, at the default
 * interval and at 16 times the default rate, in the same run. Part of `npm run bench`.
 */
import { type BusResult, type LibraryRun, libraryStreams } from "./bus.js";

/** Off: a renewal interval longer than any run (setTimeout's maximum, about 24.8 days). */
const RENEWAL_OFF_MS = 2 ** 31 - 1;

/**
 * What lease renewal costs: the library with 10 ms of simulated I/O per handler and 256 handlers in
 * flight, so a few hundred entries are pending at any time and every renewal round renews them
 * all: renewal off, at the default interval (claimIdleMs / 3 = 1,667 ms) and every 100 ms (16×
 * the default rate), in the same run, alternating, best of `rounds` per setting.
 */
export async function benchRenewal(
  url: string,
  total = 50_000,
  rounds = 3,
): Promise<{ throughput: BusResult[]; paced: BusResult[]; rate: number }> {
  const settings: LibraryRun[] = [
    { label: "renewal off", renewIntervalMs: RENEWAL_OFF_MS, handlerMs: 10 },
    { label: "renewal on (default: every 1,667 ms)", handlerMs: 10 },
    { label: "renewal every 100 ms", renewIntervalMs: 100, handlerMs: 10 },
  ];
  await libraryStreams(url, 5_000, undefined, settings[0]);
  const best: (BusResult | undefined)[] = settings.map(() => undefined);
  for (let round_ = 0; round_ < rounds; round_++) {
    for (const [i, setting] of settings.entries()) {
      const result = await libraryStreams(url, total, undefined, setting);
      if (!best[i] || result.perSecond > best[i].perSecond) best[i] = result;
    }
  }
  // Latency under capacity (no backlog), so p99 is the per-message cost, not queueing.
  const rate = 5_000;
  const paced: BusResult[] = [];
  for (const setting of settings) paced.push(await libraryStreams(url, rate * 3, rate, setting));
  return { throughput: best as BusResult[], paced, rate };
}
