/** The arithmetic of the soak run: least-squares slopes and drift of sampled series. */

export interface Point {
  /** Seconds since the start of the run. */
  t: number;
  v: number;
}

/** Least-squares slope of v over t, per second; 0 with fewer than two distinct times. */
export function slope(points: readonly Point[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const mv = points.reduce((s, p) => s + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Standard error of the least-squares slope (per second): how far the fitted slope may be from the
 * series' true trend given the scatter around the line. 0 for a series exactly on a line; infinite
 * with fewer than three points (no scatter to measure).
 */
export function slopeStdError(points: readonly Point[]): number {
  const n = points.length;
  if (n < 3) return Number.POSITIVE_INFINITY;
  const b = slope(points);
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const mv = points.reduce((s, p) => s + p.v, 0) / n;
  let residuals = 0;
  let den = 0;
  for (const p of points) {
    residuals += (p.v - mv - b * (p.t - mt)) ** 2;
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? Number.POSITIVE_INFINITY : Math.sqrt(residuals / (n - 2) / den);
}

/**
 * Theil–Sen slope of v over t, per second: the median of the slopes between every pair of points
 * (Sen 1968). One stray reading (a heap read just before a collection finished, a scan slowed by
 * load) moves a least-squares line a lot and this one hardly, in either direction: a single high
 * reading early in a window cannot hide a steady leak behind it. 0 with fewer than two distinct times.
 */
export function robustSlope(points: readonly Point[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const a = points[i]!;
      const b = points[j]!;
      if (b.t !== a.t) slopes.push((b.v - a.v) / (b.t - a.t));
    }
  }
  if (slopes.length === 0) return 0;
  slopes.sort((x, y) => x - y);
  const mid = slopes.length >> 1;
  return slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
}

/**
 * How much the series rises over the points' time span (Theil–Sen slope, robust to a stray
 * reading), as a fraction of their mean: 0.05 is "grew 5% over the window". 0 for an empty or
 * all-zero series.
 */
export function drift(points: readonly Point[]): number {
  if (points.length < 2) return 0;
  const mean = points.reduce((s, p) => s + p.v, 0) / points.length;
  if (mean === 0) return 0;
  const span = points[points.length - 1]!.t - points[0]!.t;
  return (robustSlope(points) * span) / Math.abs(mean);
}

/** The points at or after `from` seconds. */
export const since = (points: readonly Point[], from: number): Point[] => points.filter((p) => p.t >= from);
