/**
 * Runs suspects of a crash one at a time (break20 F1). A process exit kills every handler running in
 * it, so a silent delivery (no outcome) says nothing about which message killed it. An entry with a
 * silent delivery behind it runs alone: it waits for the handlers running here to return, and no
 * other handler starts while it runs. A crash then can only be its own, and only such runs count
 * towards its crash loop (soloRunsKey). Both waits are bounded (`ISOLATION_MS`) so that a hung
 * handler cannot stall the consumer: past them the suspect counts as having run alone.
 */

/** Longest wait for the others to return, and longest time a suspect keeps others from starting. */
export const ISOLATION_MS = 30_000;

export class RunGate {
  private shared = 0;
  private exclusive = false;
  private waitingExclusive = 0;
  private waiters: (() => void)[] = [];

  /** A handler that may run beside others: waits while a suspect runs alone or waits to. */
  async enterShared(): Promise<() => void> {
    while (this.exclusive || this.waitingExclusive > 0) await this.wait();
    this.shared++;
    return this.once(() => {
      this.shared--;
      this.wake();
    });
  }

  /** A suspect: waits for the others to return (at most ISOLATION_MS), then runs alone. */
  async enterExclusive(): Promise<() => void> {
    this.waitingExclusive++;
    const deadline = performance.now() + ISOLATION_MS;
    while (this.exclusive || (this.shared > 0 && performance.now() < deadline)) {
      // Past the deadline only another suspect's run holds it: its release wakes this one (no
      // timer: a 1 ms poll spun the CPU, break21 N7).
      const left = deadline - performance.now();
      await this.wait(this.exclusive && left <= 0 ? undefined : Math.max(1, left));
    }
    this.waitingExclusive--;
    this.exclusive = true;
    // A hung suspect must not stall the consumer: others may start after ISOLATION_MS.
    const timer = setTimeout(() => release(), ISOLATION_MS);
    timer.unref();
    const release = this.once(() => {
      clearTimeout(timer);
      this.exclusive = false;
      this.wake();
    });
    return release;
  }

  private once(f: () => void): () => void {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        f();
      }
    };
  }

  private wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
