/**
 * Runs suspects of a crash alone, in the whole process (break20 F1, break21 N1/N2). A process exit
 * kills every handler running in it, whatever subscription it belongs to, so a silent delivery (no
 * outcome) says nothing about which message killed it. An entry with an unexplained silent delivery
 * is a *suspect*, and only its runs that had the process to themselves count towards its crash loop
 * (soloRunsKey): a crash then can only have been its own.
 *
 * The rules, for every subscription and transport of the process (one gate: `processRunGate`):
 * - At most one suspect runs at a time. The next waits for it to return (or be taken for hung, see
 *   below) however long it runs: were it admitted beside it after a while, a poison message queued
 *   behind a slow one would crash the process beside it on every restart and never be counted.
 * - The first suspect in line holds ordinary runs off and waits for the running ones to return, at
 *   most its `isolationMs`. Then it starts *alone*: counted (the caller INCRs before the handler,
 *   so a crash leaves the count). If they do not return in time, it starts *in company*, not
 *   counted: a crash then makes them suspects too, and the next process runs each alone.
 * - A suspect running alone holds ordinary runs off for at most its `holdMs` (a hung handler must
 *   not stall the process). Past it, once an ordinary run waits, the gate first undoes its count
 *   (`onCompany`, awaited), then lets them start: a run counts only if nothing else ran in the
 *   process for all of it, so a healthy message that outlives the hold is not blamed for a crash
 *   beside it (N1). The dispatcher doubles a suspect's `holdMs` after each such undo (from
 *   `isolationMs` up to `MAX_HOLD_FACTOR` x `isolationMs` and at most `hungMs`: break23 F1, F3,
 *   break24 F4), so a poison message that kills the process within that ends up running alone for
 *   all of it and counted; a hold of `hungMs` ends only when the run returns or is taken for hung,
 *   its count kept.
 * - Whatever the counts, the subscriber parks a message whose silent deliveries reach 3 x its
 *   limit (`CRASH_LOOP_BACKSTOP_FACTOR`), counting only runs whose handler started: the loops these
 *   rules miss (a poison slower than the longest hold) still end.
 * - A run older than its `hungMs` (the dispatcher's `maxLeaseMs`: its lease lapsed, it is given up
 *   as hung; or its subscription's stop timed out) is no longer waited for, nor does it keep a run
 *   from counting: a handler that has hung that long awaits something that never comes, it does
 *   not crash the process. A hung suspect keeps its count here; the dispatcher undoes it as it gives
 *   the run up as hung, and records the hang, so its entry's next run, on any instance, is no suspect
 *   at all (a hang is not a crash: break26 F2); a handler that hangs every time is left to the
 *   backstop (the dispatcher runs its entry again, on any instance, break24 F2). This bounds how
 *   long a hung suspect holds up the suspects behind it, so a poison message still gets its runs
 *   alone and ends parked.
 * - A suspect's silence may be explained while it waits or holds: its previous owner did not crash,
 *   it stalled (a long GC, SIGSTOP) past `claimIdleMs`, and, awake again, found its lease lost and
 *   recorded its run alive (Dispatcher.recordStall). So a suspect with a `recheck` re-reads its
 *   record while it waits first in line (at once as it becomes first, whatever runs then, even
 *   nothing or another suspect; then every `everyMs`) or holds (every `everyMs`, not once its hold
 *   is over); it is not admitted alone before that first re-read answers (at most its
 *   `isolationMs`: break36 F2). Once explained it is no suspect: waiting, it leaves the line
 *   and runs as an ordinary run (not alone, not counted); holding, its hold is over at once (ended
 *   as above: its count undone first once an ordinary run waits; the next suspect no longer waits
 *   for its return). A process that crashed writes nothing: its suspects stay suspects.
 * What it costs (break21 N6): after a crash, each message that was in flight runs alone once, until
 * its first outcome (a failed attempt ends its suspicion unless it crashed alone before:
 * redis-streams-delivery.ts `retry`), each holding the other handlers off for at most its hold. A
 * message that keeps crashing is parked after `maxSilentDeliveries` counted runs (10 for a
 * must-complete one); one that keeps failing after a crash in company is a suspect once, not on
 * every retry of its must-complete window.
 */

/** Default of `isolationMs` (transport option `isolationMs`). */
export const ISOLATION_MS = 30_000;

/**
 * The doubled hold stops at this many times `isolationMs` (and at `hungMs`): a hold stops every
 * handler of every subscription of the process, so it must not grow to `maxLeaseMs` (10 min) per
 * crash (break24 F4). A poison message slower than that is parked by the backstop, which counts
 * its silent started runs.
 */
export const MAX_HOLD_FACTOR = 4;

export interface RunOptions {
  /** ms after which the run is taken for hung (its lease given up): no longer waited for. */
  hungMs: number;
}

export interface SuspectOptions extends RunOptions {
  /** Longest wait (ms) for ordinary runs to return, and (without `holdMs`) longest time this run holds them off. */
  isolationMs: number;
  /**
   * Longest time (ms) this run, alone, holds ordinary runs off (default `isolationMs`). At or past
   * `hungMs` it holds them until it returns or is taken for hung (then keeping its count).
   */
  holdMs?: number;
  /** Undoes this run's count before anything starts beside it. A rejection is ignored. */
  onCompany: () => Promise<void>;
  /** Re-reads whether its silence is explained now (see the rules above); none: never. */
  recheck?: Recheck;
}

/** How a waiting or holding suspect learns that its silence was a stall, not a crash. */
export interface Recheck {
  /** ms between two re-reads (the first one as it starts waiting first in line, or `everyMs` into a hold). */
  everyMs: number;
  /** Resolves true once the suspect's silent deliveries are all explained; a rejection counts as false. */
  explained: () => Promise<boolean>;
}

export interface GateRun {
  /** A suspect started with no other live run in the process: it counts towards its crash loop. */
  readonly alone: boolean;
  /** A suspect explained while it waited (Recheck): it started as an ordinary run, not counted. */
  readonly explained: boolean;
  /** Ends the run (idempotent). */
  leave(): void;
  /** Takes the run for hung before its `hungMs` (its subscription stopped waiting for it). */
  giveUp(): void;
}

interface Run {
  suspect: boolean;
  hung: boolean;
  timer: NodeJS.Timeout;
}

interface Waiting {
  options: SuspectOptions;
  /** When it became first in line with no suspect running (performance.now()), once it has. */
  since?: number;
  timer?: NodeJS.Timeout;
  /** Its recheck polls (from the moment it is first in line). */
  rechecking?: boolean;
  /** Its first re-read as first in line has answered (not explained, or failed). */
  read?: boolean;
  admit: (run: GateRun) => void;
}

export class RunGate {
  private readonly runs = new Set<Run>();
  /** The suspect running alone, while it holds ordinary runs off; `over`: past its isolationMs. */
  private holder: { run: Run; onCompany: () => Promise<void>; over: boolean; releasing: boolean } | undefined;
  private readonly suspects: Waiting[] = [];
  /** Ordinary runs waiting: each starts its run (synchronously, so no suspect slips in before it). */
  private ordinaryWaiting: (() => void)[] = [];

  /** An ordinary run: waits while a suspect runs alone or is first in line to. */
  enterOrdinary(options: RunOptions): Promise<GateRun> {
    return new Promise((admit) => {
      this.ordinaryWaiting.push(() => admit(this.start(false, options, false)));
      this.pump();
    });
  }

  /** A suspect: waits for its turn (see the rules above), then runs alone or in company. */
  enterSuspect(options: SuspectOptions): Promise<GateRun> {
    return new Promise((admit) => {
      this.suspects.push({ options, admit });
      this.pump();
    });
  }

  /** An explained suspect still in line leaves it and waits as an ordinary run. */
  private explainWaiting(waiting: Waiting): void {
    const at = this.suspects.indexOf(waiting);
    if (at < 0) return;
    this.suspects.splice(at, 1);
    clearTimeout(waiting.timer);
    this.ordinaryWaiting.push(() => waiting.admit(this.start(false, waiting.options, false, true)));
    this.pump();
  }

  private ordinaryBlocked(): boolean {
    const first = this.suspects[0];
    return this.holder !== undefined || (first !== undefined && !this.suspectRunning());
  }

  private suspectRunning(): boolean {
    return [...this.runs].some((r) => r.suspect && !r.hung);
  }

  private start(
    suspect: boolean,
    options: RunOptions,
    alone: boolean,
    explained = false,
  ): GateRun & { run: Run } {
    const run: Run = { suspect, hung: false, timer: setTimeout(() => this.markHung(run), options.hungMs) };
    run.timer.unref();
    this.runs.add(run);
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      clearTimeout(run.timer);
      this.runs.delete(run);
      if (this.holder?.run === run) this.holder = undefined;
      this.pump();
    };
    return { run, alone, explained, leave, giveUp: () => this.markHung(run) };
  }

  /**
   * A hung run is not waited for, and as the holder its hold ends, its count kept: it ended
   * silently as far as its crash loop is concerned (its entry is taken over elsewhere), whatever
   * runs beside it now.
   */
  private markHung(run: Run): void {
    if (run.hung || !this.runs.has(run)) return;
    run.hung = true;
    clearTimeout(run.timer);
    if (this.holder?.run === run) this.holder = undefined;
    this.pump();
  }

  /** Admits whatever may start now. */
  private pump(): void {
    const first = this.suspects[0];
    if (first && !this.holder && !this.suspectRunning()) this.tryFirst(first);
    if (!this.ordinaryBlocked()) for (const start of this.ordinaryWaiting.splice(0)) start();
    if (this.holder?.over && this.ordinaryWaiting.length > 0) this.release();
    // Whoever is first in line now (tryFirst may have admitted the one before).
    const next = this.suspects[0];
    if (next) this.recheckFirst(next);
  }

  /**
   * Ends a hold that is over once an ordinary run waits for it, after undoing the holder's count.
   * Not sooner: a suspect past its hold that nothing joined still ran alone (a poison message that
   * crashes after isolationMs with nothing else to do is still counted).
   */
  private release(): void {
    const holder = this.holder;
    if (!holder || holder.releasing) return;
    holder.releasing = true;
    void holder
      .onCompany()
      .catch(() => undefined)
      .then(() => {
        if (this.holder === holder) this.holder = undefined;
        this.pump();
      });
  }

  /**
   * Re-reads the first suspect in line at once as it becomes first (its records may be old: it
   * waited behind other suspects), whatever runs, then every everyMs while it stays first (break36
   * F2). Suspects further back are not read. Its first answer pumps (see tryFirst).
   */
  private recheckFirst(first: Waiting): void {
    if (first.rechecking || !first.options.recheck) return;
    first.rechecking = true;
    const explain = () => this.explainWaiting(first);
    const answered = () => {
      if (first.read) return;
      first.read = true;
      this.pump();
    };
    poll(first.options.recheck, () => this.suspects[0] === first, explain, 0, answered);
  }

  private tryFirst(first: Waiting): void {
    const now = performance.now();
    first.since ??= now;
    const busy = [...this.runs].some((r) => !r.hung);
    const left = first.since + first.options.isolationMs - now;
    clearTimeout(first.timer);
    // Not admitted alone (counted, holding every ordinary run off) before its first re-read
    // answers (break36 F2), for at most its isolationMs (a Redis that never answers).
    const unread = !busy && first.options.recheck !== undefined && first.read !== true;
    if ((busy || unread) && left > 0) {
      // Armed again on every look: a timer may fire a little before performance.now() says so.
      first.timer = setTimeout(() => this.pump(), Math.max(1, left));
      first.timer.unref();
      return;
    }
    this.suspects.shift();
    const started = this.start(true, first.options, !busy);
    if (!busy) this.hold(started.run, first.options);
    first.admit(started);
  }

  /** Holds ordinary runs off for `holdMs` (or until explained), then until one waits (see release). */
  private hold(run: Run, options: SuspectOptions): void {
    const holder = { run, onCompany: options.onCompany, over: false, releasing: false };
    this.holder = holder;
    poll(
      options.recheck,
      () => this.holder === holder && !holder.over,
      () => {
        // No longer a suspect: the next one need not wait for its return (only isolationMs).
        run.suspect = false;
        holder.over = true;
        this.pump();
      },
      options.recheck?.everyMs ?? 0,
    );
    const holdMs = options.holdMs ?? options.isolationMs;
    // A hold as long as the lease ends only by the run's return or markHung, which keeps its count.
    if (holdMs >= options.hungMs) return;
    const timer = setTimeout(() => {
      holder.over = true;
      this.pump();
    }, holdMs);
    timer.unref();
  }
}

/**
 * Calls `recheck.explained` after `firstMs`, then every `everyMs`, while `active()`, until it
 * resolves true: then `onExplained`, if still active; each false (or rejected) answer while active
 * is told to `onUnexplained`. One call at a time; nothing without a `recheck`.
 */
function poll(
  recheck: Recheck | undefined,
  active: () => boolean,
  onExplained: () => void,
  firstMs: number,
  onUnexplained: () => void = () => {},
): void {
  if (!recheck) return;
  const next = (delayMs: number) => {
    const timer = setTimeout(() => {
      if (!active()) return;
      void recheck
        .explained()
        .catch(() => false)
        .then((explained) => {
          if (!active()) return;
          if (explained) onExplained();
          else {
            next(recheck.everyMs);
            onUnexplained();
          }
        });
    }, delayMs);
    timer.unref();
  };
  next(firstMs);
}

/** The gate of this process: every Streams subscription runs its handlers through it. */
export const processRunGate = new RunGate();
