import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TimeoutError } from "./errors.js";
import { withTimeout } from "./timeout.js";

describe("withTimeout", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves with the work's value and clears its timer", async () => {
    await expect(withTimeout(Promise.resolve(42), 1_000)).resolves.toBe(42);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("passes the work's own rejection through and clears its timer", async () => {
    await expect(withTimeout(Promise.reject(new Error("nope")), 1_000)).rejects.toThrow("nope");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects with a retryable TIMEOUT error once the time is up", async () => {
    const result = withTimeout(new Promise<never>(() => {}), 500).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(499);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const error = await result;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: "TIMEOUT", retryable: true, timeoutMs: 500 });
  });

  it("aborts the signal handed to a work function on timeout", async () => {
    let seen: AbortSignal | undefined;
    const result = withTimeout((signal) => {
      seen = signal;
      return new Promise<never>(() => {});
    }, 100).catch((e: unknown) => e);
    expect(seen?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await result;
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(TimeoutError);
  });

  it("rejects with the caller's abort reason and clears its timer", async () => {
    const controller = new AbortController();
    const result = withTimeout(new Promise<never>(() => {}), 1_000, { signal: controller.signal });
    controller.abort(new Error("shutting down"));
    await expect(result).rejects.toThrow("shutting down");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects at once when the caller's signal is already aborted", async () => {
    const fn = vi.fn(() => Promise.resolve(1));
    await expect(withTimeout(fn, 1_000, { signal: AbortSignal.abort(new Error("gone")) })).rejects.toThrow(
      "gone",
    );
    expect(fn).not.toHaveBeenCalled();
  });
});
