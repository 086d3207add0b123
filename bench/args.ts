/** What `npm run bench` was asked to do: its arguments, checked before anything starts. */
export type BenchMode = "full" | "quick" | "quick-one-process" | "help";

export const BENCH_USAGE = `Usage: npm run bench [-- --quick [--one-process] | --help]

  (no argument)  every benchmark (bus, lease renewal, signing/encryption, tracing, end to end,
                 order cost); rewrites BENCHMARKS.md. Tens of minutes on a 2-core machine.
  --quick        only issue 14's measure (order cost in raw-message units, sustained orders/s,
                 p99 at half rate, accepted POST /orders vs a minimal server), at most ~4 minutes
                 after the build; prints its figures as the last lines and writes nothing.
  --quick --one-process
                 the same measure with the whole system in one process over Redis (what
                 \`npm start\` runs with REDIS_URL) instead of every service its own process.
  --help, -h     this text.

Environment: BENCH_FROM_SOURCE=1 runs the services from source (tsx) instead of the compiled build;
BENCH_START_TIMEOUT_MS bounds each system's start (default 180000).`;

/**
 * The mode for these arguments (`process.argv.slice(2)`).
 * @throws Error naming the argument, for anything but `--quick`, `--one-process` (with `--quick`),
 *   `--help` or `-h`.
 */
export function benchMode(args: readonly string[]): BenchMode {
  const unknown = args.filter((a) => !["--quick", "--one-process", "--help", "-h"].includes(a));
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown.join(" ")}\n\n${BENCH_USAGE}`);
  if (args.includes("--help") || args.includes("-h")) return "help";
  const quick = args.includes("--quick");
  if (args.includes("--one-process") && !quick)
    throw new Error(`--one-process goes with --quick\n\n${BENCH_USAGE}`);
  if (!quick) return "full";
  return args.includes("--one-process") ? "quick-one-process" : "quick";
}

/**
 * The quick run's time line, printed before its last lines: the run itself, not the build before
 * it (new-user bench finding 9: a fresh clone's build adds about 75 s outside the run's clock).
 */
export function quickRunTime(runSec: number, buildSec: number): string {
  const build =
    buildSec >= 1
      ? `not counting the ${Math.round(buildSec)} s of npm run build before it`
      : "not counting the build, which was already fresh";
  return `(quick run: ${Math.round(runSec)} s, ${build})`;
}
