import { describe, expect, it, vi } from "vitest";
import { TimeoutError } from "./errors.js";
import { retry } from "./retry.js";

const noSleep = vi.fn((_ms: number) => Promise.resolve());

function failingThen<T>(failures: unknown[], value: T) {
  let call = 0;
  return vi.fn(async (_attempt: number): Promise<T> => {
    const error = failures[call++];
    if (error !== undefined) throw error;
    return value;
  });
}

describe("retry", () => {
  it("returns the first success, sleeping the backoff delay between attempts", async () => {
    const sleeps: number[] = [];
    const fn = failingThen([new Error("a"), new Error("b")], "done");
    const result = await retry(fn, {
      maxAttempts: 3,
      backoff: (attempt) => attempt * 10,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    expect(result).toBe("done");
    expect(fn.mock.calls.map((c) => c[0])).toEqual([1, 2, 3]);
    expect(sleeps).toEqual([10, 20]);
  });

  it("rethrows the last error unchanged when attempts run out", async () => {
    const last = new TimeoutError(50);
    const fn = failingThen([new Error("first"), last], "never");
    await expect(retry(fn, { maxAttempts: 2, sleep: noSleep })).rejects.toBe(last);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("stops at once on an error marked not retryable", async () => {
    const fatal = Object.assign(new Error("invalid"), { retryable: false });
    const fn = failingThen([fatal], "never");
    await expect(retry(fn, { maxAttempts: 5, sleep: noSleep })).rejects.toBe(fatal);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("reports each retry to onRetry", async () => {
    const seen: number[] = [];
    const fn = failingThen([new Error("x")], 1);
    await retry(fn, { sleep: noSleep, backoff: () => 7, onRetry: (i) => seen.push(i.attempt, i.delayMs) });
    expect(seen).toEqual([1, 7]);
  });

  it("does not start an attempt once the signal is aborted", async () => {
    const controller = new AbortController();
    const fn = vi.fn(async () => {
      controller.abort(new Error("stop"));
      throw new Error("fail");
    });
    await expect(retry(fn, { sleep: noSleep, signal: controller.signal })).rejects.toThrow("stop");
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
