/**
 * How randomness spreads retries: `full` draws from [0, d] (best at de-synchronising a herd of
 * clients), `equal` from [d/2, d] (keeps a floor), `none` returns d itself.
 */
export type Jitter = "full" | "equal" | "none";

export interface ExponentialBackoffOptions {
  /** Delay before the first retry (before jitter). */
  baseMs?: number;
  /** Cap on any delay (before jitter). */
  maxMs?: number;
  factor?: number;
  jitter?: Jitter;
  /** Uniform in [0, 1); injected so tests are deterministic. */
  random?: () => number;
}

/** Delay in whole milliseconds before retry number `attempt` (1 = the first retry). */
export type BackoffFn = (attempt: number) => number;

/** `min(maxMs, baseMs * factor^(attempt-1))`, then jitter. */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): BackoffFn {
  const baseMs = options.baseMs ?? 100;
  const maxMs = options.maxMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? "full";
  const random = options.random ?? Math.random;
  if (!(baseMs >= 0) || !Number.isFinite(baseMs)) throw new RangeError("baseMs must be a finite number ≥ 0");
  if (!(maxMs >= baseMs)) throw new RangeError("maxMs must be ≥ baseMs");
  if (!(factor >= 1) || !Number.isFinite(factor)) throw new RangeError("factor must be a finite number ≥ 1");

  return (attempt: number): number => {
    if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError("attempt must be an integer ≥ 1");
    // factor ** big overflows to Infinity, which Math.min caps: no special case needed.
    const ceiling = Math.min(maxMs, baseMs * factor ** (attempt - 1));
    return Math.floor(applyJitter(ceiling, jitter, random));
  };
}

function applyJitter(delay: number, jitter: Jitter, random: () => number): number {
  switch (jitter) {
    case "none":
      return delay;
    case "equal":
      return delay / 2 + random() * (delay / 2);
    case "full":
      return random() * delay;
  }
}
