import { monotonicNow } from "../resilience/monotonic.js";

/**
 * Admits one line per key per interval and counts the others, said on the next admitted line.
 * Keys are codes and service names (a bounded set); forgotten wholesale past 1 000 all the same.
 */
export class LogThrottle {
  private readonly keys = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    /** Ms on a monotonic source: a step back of the wall clock would mute the line for the step. */
    private readonly now: () => number = monotonicNow,
  ) {}

  /** undefined: skip this line; otherwise log it, with this many lines skipped since the last. */
  admit(key: string): number | undefined {
    const now = this.now();
    const entry = this.keys.get(key);
    if (entry && now < entry.until) {
      entry.suppressed += 1;
      return undefined;
    }
    if (this.keys.size >= 1_000) this.keys.clear();
    this.keys.set(key, { until: now + this.intervalMs, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}
