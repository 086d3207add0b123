/**
 * What one gateway remembers of the instances that failed it, kept here and never written into the
 * shared registry (a slow answer is no proof of death, break17 F2): when each last failed, which
 * to skip for a short while after a timeout or a refused credential, and which has a forced trial
 * in flight. Keyed by whatever names an instance; time comes from the injected clock.
 */
import { monotonicNow } from "../lib/resilience/monotonic.js";

export interface AvoidListOptions {
  /** How long (ms) an instance is skipped after `failed(key, { avoid: true })`. */
  avoidMs: number;
  /** Ms on a monotonic source (default `monotonicNow`): a wall-clock step must not move `avoidUntil`. */
  monotonicNow?: () => number;
}

interface Entry {
  /** `monotonicNow` of its last failure (0: none): the least recent is tried first. */
  failedAt: number;
  /** `monotonicNow` until which it is skipped while another instance can be tried. */
  avoidUntil: number;
  /** A forced trial is in flight (see `beginTrial`). */
  trialInFlight: boolean;
  /** `monotonicNow` of its last answer to this gateway (0: none since it was first tracked). */
  answeredAt: number;
}

export class AvoidList {
  private readonly entries = new Map<string, Entry>();

  private readonly now: () => number;

  constructor(private readonly options: AvoidListOptions) {
    this.now = options.monotonicNow ?? monotonicNow;
  }

  /** Skipped for now (it timed out or refused the credential within `avoidMs`). */
  isAvoided(key: string): boolean {
    return (this.entries.get(key)?.avoidUntil ?? 0) > this.now();
  }

  /** It failed now; `avoid`: skip it for `avoidMs` too (a timeout, a refused credential). */
  failed(key: string, { avoid }: { avoid: boolean }): void {
    const entry = this.entry(key);
    const now = this.now();
    entry.failedAt = now;
    if (avoid) entry.avoidUntil = now + this.options.avoidMs;
  }

  /** It answered: no longer avoided (its time of failure still orders the forced trials). */
  answered(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.avoidUntil = 0;
    entry.answeredAt = this.now();
  }

  /**
   * It answered this gateway within `withinMs`, and has not failed since: it serves, whatever a
   * mark elsewhere says (see UpstreamProxy.pickUntried, panic routing). Only instances that failed
   * or had a forced trial here are tracked; the others answer false.
   */
  answeredLately(key: string, withinMs: number): boolean {
    const entry = this.entries.get(key);
    return (
      entry !== undefined && entry.answeredAt > entry.failedAt && this.now() - entry.answeredAt < withinMs
    );
  }

  /**
   * A forced trial of it starts (every instance was skipped): until `endTrial`, `leastRecentlyFailed`
   * passes it over, so the others do not pile onto an instance that may be frozen (break18 F3).
   */
  beginTrial(key: string): void {
    this.entry(key).trialInFlight = true;
  }

  endTrial(key: string): void {
    // Not recreated when the instance was forgotten (deregistered) during its trial.
    const entry = this.entries.get(key);
    if (entry) entry.trialInFlight = false;
  }

  /**
   * Of `candidates`, the one that failed longest ago (never failed first; the first of equals), none
   * with a trial in flight: the one to force a trial on when every instance is skipped.
   */
  leastRecentlyFailed<T>(candidates: Iterable<T>, keyOf: (candidate: T) => string): T | undefined {
    let chosen: T | undefined;
    let chosenAt = Number.POSITIVE_INFINITY;
    for (const candidate of candidates) {
      const entry = this.entries.get(keyOf(candidate));
      if (entry?.trialInFlight) continue;
      const failedAt = entry?.failedAt ?? 0;
      if (failedAt < chosenAt) {
        chosen = candidate;
        chosenAt = failedAt;
      }
    }
    return chosen;
  }

  /** Forgets an instance no longer registered. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  private entry(key: string): Entry {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { failedAt: 0, avoidUntil: 0, trialInFlight: false, answeredAt: 0 };
      this.entries.set(key, entry);
    }
    return entry;
  }
}
