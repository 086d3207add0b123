/** Latency summary of one aggregation window, in milliseconds. */
export interface DurationSummary {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Count, exact max and a bounded uniform sample (reservoir sampling, Algorithm R) of durations.
 * Percentiles are exact while a window holds at most `capacity` values and estimates beyond, so
 * memory stays bounded whatever the throughput.
 */
export class DurationWindow {
  count = 0;
  private max = 0;
  private readonly samples: number[] = [];

  constructor(
    private readonly capacity: number,
    private readonly random: () => number,
  ) {}

  add(durationMs: number): void {
    const value = Number.isFinite(durationMs) && durationMs > 0 ? durationMs : 0;
    this.count++;
    if (value > this.max) this.max = value;
    if (this.samples.length < this.capacity) {
      this.samples.push(value);
      return;
    }
    const slot = Math.floor(this.random() * this.count);
    if (slot < this.capacity) this.samples[slot] = value;
  }

  summary(): DurationSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: this.max };
  }
}

/** Nearest-rank percentile of an ascending list; 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] ?? 0;
}
