/**
 * A handler run's lease signal (Delivery.signal), made only when something asks for it. Most
 * handlers never read `ctx.signal` (the services' dedupe-window middleware does not), and an
 * AbortController with its AbortSignal per delivery was ~4% of a consumer's CPU in the bus
 * benchmark (bench/bus.ts; BENCHMARKS.md "Session 21"). A signal asked for after the lease ended
 * comes already aborted, with the same reason.
 */
export class LeaseSignal {
  private controller: AbortController | undefined;
  private reason: Error | undefined;

  /** Whether the lease has ended (given up or lost). */
  get aborted(): boolean {
    return this.reason !== undefined;
  }

  /** The signal handed to the handler (`ctx.signal`): aborted with the reason once the lease ends. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.reason !== undefined) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Ends the lease (once: a later reason is ignored, as AbortController does). */
  abort(reason: Error): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}
