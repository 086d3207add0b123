/**
 * The scan shared by the orphan passes over an external system's list (the payment provider's
 * charges, `services/payment/orphan-charges.ts`; the carrier's bookings,
 * `services/shipping/orphan-bookings.ts`): the entries by creation time, from a position kept in
 * Redis and shared by the instances, up to now − grace, at most `maxPerPass` entries a pass, each
 * page's "does this one need handling" asked together, the handling one entry at a time.
 *
 * Position: a creation time (epoch ms) and how many entries of that millisecond were examined. The
 * external system lists the entries of one millisecond in a stable order and none is added to a
 * millisecond older than now − grace (it is dated on creation; short of the clock stepping back by
 * the whole grace), so skipping that many is exact, and a millisecond holding more entries than a
 * pass's budget is still crossed over passes. Each page is asked from the position (`fromMs` = the
 * last creation time, `offset` = entries of it examined): its cost does not grow with the pass.
 *
 * Clock: the position is set to what the pass reached (the last entry examined, or now − grace when
 * it reached the end), so a backlog or a forward clock step is caught up over passes. After a
 * backward step of the shared clock the position is past now − grace: that pass starts at
 * now − grace − lookback on the stepped clock instead and the position follows the stepped clock
 * down. A pass stops at an entry whose handling throws; the position stays before it (asked again
 * next pass). An entry examined twice must be harmless: the handling is idempotent.
 */
import type { Redis } from "ioredis";
import { startTicker, type Ticker } from "./ticker.js";

/**
 * Where a scan reached: every entry created before `createdAtMs` (epoch ms), and the first `skip`
 * the external system lists at `createdAtMs`, were examined.
 */
export interface ScanPosition {
  createdAtMs: number;
  skip: number;
}

/** Where a scan reached; undefined before the first pass. */
export interface ScanCursor {
  get(): Promise<ScanPosition | undefined>;
  set(position: ScanPosition): Promise<void>;
}

/** The cursor of a single process (tests, the in-memory platform). */
export class MemoryScanCursor implements ScanCursor {
  private value: ScanPosition | undefined;
  async get(): Promise<ScanPosition | undefined> {
    return this.value && { ...this.value };
  }
  async set(position: ScanPosition): Promise<void> {
    this.value = { ...position };
  }
}

/**
 * The cursor in Redis, shared by every instance of a service. The last writer wins: an instance that
 * sets it lower only makes the next pass re-examine entries, which is harmless. The creation time is
 * a plain number in `cursorKey`; the skip is `<createdAtMs>:<skip>` in `skipKey` and counts only
 * while its time is the cursor's (a cursor set by an instance that writes no skip re-reads its
 * millisecond, harmlessly). Both keys must share a hash tag (one MULTI).
 */
export class RedisScanCursor implements ScanCursor {
  constructor(
    private readonly redis: Redis,
    private readonly keys: { cursorKey: string; skipKey: string },
  ) {}
  async get(): Promise<ScanPosition | undefined> {
    const [value, skipValue] = await this.redis.mget(this.keys.cursorKey, this.keys.skipKey);
    const createdAtMs = Number(value ?? NaN);
    if (value === null || !Number.isFinite(createdAtMs)) return undefined;
    const [skipAt, skip] = (skipValue ?? "").split(":").map(Number);
    const valid = skipAt === createdAtMs && Number.isInteger(skip) && skip! > 0;
    return { createdAtMs, skip: valid ? skip! : 0 };
  }
  async set({ createdAtMs, skip }: ScanPosition): Promise<void> {
    const results = await this.redis
      .multi()
      .set(this.keys.cursorKey, String(createdAtMs))
      .set(this.keys.skipKey, `${createdAtMs}:${skip}`)
      .exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }
}

/** A page of the external list: `limit` entries created in [fromMs, toMs], from the `offset`-th. */
export interface CreationPage {
  offset: number;
  limit: number;
  fromMs: number;
  toMs: number;
}

export interface CreationScanOptions<E> {
  /** The external system's list by creation time (its client: time budget, breaker). */
  list(page: CreationPage): Promise<E[]>;
  /** An entry's creation time (epoch ms, the external system's date on the shared clock). */
  createdAtMs(entry: E): number;
  /** Whether an entry needs handling (asked for a whole page at once: keep it a read). */
  needs(entry: E): Promise<boolean>;
  /**
   * Handles one entry that needs it (one at a time, in creation order); calls `count` for each entry
   * this pass counts as handled. A throw stops the pass before this entry.
   */
  handle(entry: E, count: () => void): Promise<void>;
  /** The shared clock (epoch ms): the external system dates its entries on it. */
  now: () => number;
  /** Age (ms) an entry must reach before it is examined. */
  graceMs: number;
  /** Where the last pass reached (default: in memory). */
  cursor?: ScanCursor;
  /** How far before now − grace a pass looks after a backward clock step, ms (default 2 min). */
  lookbackMs?: number;
  /** Entries looked at per pass at most (default 2000): the bound of one pass's work. */
  maxPerPass?: number;
  /** Entries read per page (default 100). */
  pageSize?: number;
}

/**
 * The settings of a scan a reconciler passes through as they are (the payment orphan-charge and
 * shipping orphan-booking passes): one declaration, not one copy per reconciler.
 */
export type CreationScanSettings = Pick<
  CreationScanOptions<unknown>,
  "now" | "graceMs" | "cursor" | "lookbackMs" | "maxPerPass" | "pageSize"
>;

export interface ScanPassResult {
  /** Entries looked at. */
  checked: number;
  /** Entries counted as handled by this pass (`count` calls). */
  handled: number;
  /** Whether the pass reached now − grace (false: stopped on its budget or by `stoppedBy`). */
  caughtUp: boolean;
  /** How far (ms) the position is behind now − grace after the pass (0 when caught up). */
  lagMs: number;
  /** Why the pass stopped before reaching entries younger than the grace, if it did. */
  stoppedBy?: unknown;
}

/** Default interval between orphan passes: 1 minute. */
export const DEFAULT_ORPHAN_SCAN_INTERVAL_MS = 60_000;
/** Default lookback: two pass intervals (a pass late by up to one interval still covers a step back). */
export const DEFAULT_ORPHAN_LOOKBACK_MS = 2 * DEFAULT_ORPHAN_SCAN_INTERVAL_MS;
/** Default entries examined per pass at most. */
export const DEFAULT_ORPHAN_MAX_PER_PASS = 2_000;
/** Default wait after a pass that stopped on its budget (behind) before the next: 1 s. */
export const DEFAULT_ORPHAN_CATCH_UP_DELAY_MS = 1_000;

/** A scan of an external list by creation time (see the module comment). */
export class CreationScan<E> {
  private readonly cursor: ScanCursor;
  private running: Promise<ScanPassResult> | undefined;

  constructor(private readonly options: CreationScanOptions<E>) {
    this.cursor = options.cursor ?? new MemoryScanCursor();
  }

  /** One pass (a pass already running is joined, not doubled). Never throws: see `stoppedBy`. */
  pass(): Promise<ScanPassResult> {
    this.running ??= this.walk().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves when the pass in progress (if any) has ended: for a clean stop. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async walk(): Promise<ScanPassResult> {
    const { graceMs } = this.options;
    const maxPerPass = this.options.maxPerPass ?? DEFAULT_ORPHAN_MAX_PER_PASS;
    const pageSize = this.options.pageSize ?? 100;
    const lookbackMs = this.options.lookbackMs ?? DEFAULT_ORPHAN_LOOKBACK_MS;
    let checked = 0;
    let handled = 0;
    let end: number | undefined;
    // Every entry before this position was examined by this pass or an earlier one.
    let reached: ScanPosition | undefined;
    const result = (caughtUp: boolean, stoppedBy?: unknown): ScanPassResult => ({
      checked,
      handled,
      caughtUp,
      lagMs: end === undefined || reached === undefined ? 0 : Math.max(0, end - reached.createdAtMs),
      ...(stoppedBy === undefined ? {} : { stoppedBy }),
    });
    try {
      end = this.options.now() - graceMs;
      const cursor = (await this.cursor.get()) ?? { createdAtMs: 0, skip: 0 };
      // A cursor past now − grace: the shared clock stepped back since it was set. Entries dated on
      // the stepped clock may sit below it: look back from the stepped clock's end instead. (Not
      // min(cursor, end − lookback) on every pass: a lookback window denser than maxPerPass would
      // use up each pass's budget re-reading the same entries.)
      reached = cursor.createdAtMs > end ? { createdAtMs: end - lookbackMs, skip: 0 } : cursor;
      for (;;) {
        const limit = Math.min(pageSize, maxPerPass - checked);
        if (limit <= 0) break;
        const page = await this.options.list({
          offset: reached.skip,
          limit,
          fromMs: reached.createdAtMs,
          toMs: end,
        });
        const needed = await Promise.all(page.map((entry) => this.options.needs(entry)));
        for (const [i, entry] of page.entries()) {
          checked++;
          if (needed[i]) await this.options.handle(entry, () => handled++);
          const createdAtMs = this.options.createdAtMs(entry);
          reached =
            createdAtMs === reached.createdAtMs
              ? { createdAtMs, skip: reached.skip + 1 }
              : { createdAtMs, skip: 1 };
        }
        if (page.length < limit) {
          // Everything up to now − grace examined; entries of its millisecond are read again next
          // time (harmless), so a pass that finds the clock not moved never looks past it.
          reached = { createdAtMs: end, skip: 0 };
          await this.cursor.set(reached);
          return result(true);
        }
      }
      await this.cursor.set(reached);
      return result(false);
    } catch (error) {
      // Keep what was examined; the entry that stopped the pass is at or after `reached`.
      if (reached !== undefined) await this.cursor.set(reached).catch(() => undefined);
      return result(false, error);
    }
  }
}

export interface ScanPassTimingOptions<R> {
  /** Wait (ms) after a pass that reached now − grace, or that an error stopped. */
  intervalMs: number;
  /** Wait (ms) after a pass that stopped on its budget (behind) (default 1 s). */
  catchUpDelayMs?: number;
  /** Wait (ms) before the first pass (default the interval). */
  firstDelayMs?: number;
  /** Told each pass's result (metrics, logs). */
  onPass?: (result: R) => void;
  /** Told when `onPass` throws. */
  onError?: (error: unknown) => void;
}

/**
 * The passes on a ticker: the next one after the interval, or after `catchUpDelayMs` when the last
 * stopped on its budget, so a backlog above `maxPerPass` per interval is caught up at the pass's own
 * speed instead of falling further behind every interval (orphan10). A pass an error stopped waits
 * the interval: an external system that is down is not asked again at once.
 */
export function startScanPasses<R extends { caughtUp: boolean; stoppedBy?: unknown }>(
  scan: { pass(): Promise<R> },
  timing: ScanPassTimingOptions<R>,
): Ticker {
  const catchUpDelayMs = timing.catchUpDelayMs ?? DEFAULT_ORPHAN_CATCH_UP_DELAY_MS;
  return startTicker(
    timing.intervalMs,
    async () => {
      const result = await scan.pass();
      timing.onPass?.(result);
      return result;
    },
    {
      ...(timing.firstDelayMs === undefined ? {} : { firstDelayMs: timing.firstDelayMs }),
      delayAfter: (result) =>
        result.caughtUp || result.stoppedBy !== undefined ? timing.intervalMs : catchUpDelayMs,
      ...(timing.onError ? { onError: timing.onError } : {}),
    },
  );
}

/** An orphan pass's timing as the services take it (their `orphan*` options, from the environment). */
export interface OrphanPassOptions {
  orphanScanIntervalMs?: number;
  orphanCatchUpDelayMs?: number;
  orphanScanFirstDelayMs?: number;
}

/**
 * An orphan pass's timing from a service's options: the interval (default 60 s; 0 runs no pass),
 * the catch-up and first delays when given, and the lookback after a backward clock step (two
 * intervals, the default interval's when the passes are off).
 */
export function orphanPassTiming(options: OrphanPassOptions): {
  lookbackMs: number;
  timing: { intervalMs: number; catchUpDelayMs?: number; firstDelayMs?: number };
} {
  return {
    lookbackMs: 2 * (options.orphanScanIntervalMs || DEFAULT_ORPHAN_SCAN_INTERVAL_MS),
    timing: {
      intervalMs: options.orphanScanIntervalMs ?? DEFAULT_ORPHAN_SCAN_INTERVAL_MS,
      ...(options.orphanCatchUpDelayMs === undefined ? {} : { catchUpDelayMs: options.orphanCatchUpDelayMs }),
      ...(options.orphanScanFirstDelayMs === undefined
        ? {}
        : { firstDelayMs: options.orphanScanFirstDelayMs }),
    },
  };
}

/**
 * A scan's passes as a service's part (the orphan passes of payment and shipping): `start` runs them
 * on a ticker (startScanPasses) unless `intervalMs` is 0; `stop` stops the ticker and waits for the
 * pass in progress. After each pass its lag is set on `lag` (seconds) and a pass stopped early is
 * logged at warn as `<what> pass stopped early; the next one resumes`.
 */
export function scanPassesPart<R extends { caughtUp: boolean; stoppedBy?: unknown; lagMs: number }>(
  scan: { pass(): Promise<R>; idle(): Promise<void> },
  timing: Omit<ScanPassTimingOptions<R>, "onPass" | "onError">,
  report: {
    what: string;
    lag: { set(seconds: number): void };
    logger: { warn(fields: object, message: string): void };
  },
): { start: () => Promise<void>; stop: () => Promise<void> } {
  let ticker: Ticker | undefined;
  return {
    start: async () => {
      if (timing.intervalMs <= 0) return;
      // Behind (a pass stopped on its budget): the next pass soon, not after the interval (orphan10).
      ticker ??= startScanPasses(scan, {
        ...timing,
        onPass: ({ stoppedBy, lagMs }) => {
          report.lag.set(lagMs / 1000);
          if (stoppedBy)
            report.logger.warn({ err: stoppedBy }, `${report.what} pass stopped early; the next one resumes`);
        },
      });
    },
    stop: async () => {
      await ticker?.stop();
      await scan.idle();
    },
  };
}
