import { TimeoutError } from "./errors.js";

export interface WithTimeoutOptions {
  /** Aborting it rejects at once with the signal's reason (and aborts the work's own signal). */
  signal?: AbortSignal;
  message?: string;
}

/** Work given as a function receives a signal that aborts on timeout, so it can stop early. */
export type TimedWork<T> = Promise<T> | ((signal: AbortSignal) => Promise<T>);

/**
 * Settles with the work, or rejects with `TimeoutError` after `ms`. The timer and the abort
 * listener are always cleaned up, so a finished call leaves nothing keeping the process alive.
 * A bare promise cannot be cancelled: on timeout it keeps running and its result is ignored.
 */
export function withTimeout<T>(work: TimedWork<T>, ms: number, options: WithTimeoutOptions = {}): Promise<T> {
  if (!(ms >= 0)) return Promise.reject(new RangeError("timeout ms must be ≥ 0"));
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const controller = new AbortController();

  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cleanup();
      controller.abort(signal?.reason);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      cleanup();
      const error = new TimeoutError(ms, options.message);
      controller.abort(error);
      reject(error);
    }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    start(work, controller.signal).then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}

function start<T>(work: TimedWork<T>, signal: AbortSignal): Promise<T> {
  if (typeof work !== "function") return work;
  try {
    return work(signal);
  } catch (error) {
    return Promise.reject(error);
  }
}
