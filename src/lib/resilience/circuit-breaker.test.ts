import { describe, expect, it, vi } from "vitest";
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitStateChange } from "./circuit-breaker.js";
import { CircuitOpenError } from "./errors.js";
import { waitFor } from "../../test-support/wait.js";
import { steppableWallClock, TEN_MINUTES_MS } from "../../test-support/wall-clock.js";

class BusinessError extends Error {}

function setup(options: Partial<CircuitBreakerOptions> = {}) {
  let time = 1_000;
  const changes: CircuitStateChange[] = [];
  const breaker = new CircuitBreaker({
    name: "payment-provider",
    failureThreshold: 3,
    successThreshold: 2,
    timeout: 10_000,
    monotonicNow: () => time,
    clock: () => time,
    onStateChange: (change) => changes.push(change),
    ...options,
  });
  const advance = (ms: number): void => {
    time += ms;
  };
  return { breaker, changes, advance, now: () => time };
}

const ok = () => Promise.resolve("ok");
const boom = () => Promise.reject(new Error("down"));

async function failTimes(breaker: CircuitBreaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await expect(breaker.execute(boom)).rejects.toThrow("down");
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("CircuitBreaker", () => {
  it("stays closed below the failure threshold and returns results", async () => {
    const { breaker } = setup();
    await failTimes(breaker, 2);
    expect(await breaker.execute(ok)).toBe("ok");
    expect(breaker.state).toBe("CLOSED");
  });

  it("counts only consecutive failures: a success resets the count", async () => {
    const { breaker } = setup();
    await failTimes(breaker, 2);
    await breaker.execute(ok);
    await failTimes(breaker, 2);
    expect(breaker.snapshot()).toMatchObject({ state: "CLOSED", failures: 2 });
  });

  it("opens at the failure threshold and reports from/to/at", async () => {
    const { breaker, changes, now } = setup();
    await failTimes(breaker, 3);
    expect(breaker.state).toBe("OPEN");
    expect(changes).toEqual([{ breaker: "payment-provider", from: "CLOSED", to: "OPEN", at: now() }]);
    expect(breaker.snapshot().openedAt).toBe(now());
  });

  it("fails fast while open without calling the function, with the remaining wait", async () => {
    const { breaker, advance } = setup();
    await failTimes(breaker, 3);
    advance(4_000);
    const fn = vi.fn(ok);
    const error = await breaker.execute(fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toMatchObject({ code: "CIRCUIT_OPEN", retryable: true, retryAfterMs: 6_000 });
    expect(breaker.canExecute()).toBe(false);
  });

  it("moves to half-open on the first call after the timeout", async () => {
    const { breaker, changes, advance } = setup();
    await failTimes(breaker, 3);
    advance(10_000);
    expect(breaker.canExecute()).toBe(true);
    expect(breaker.state).toBe("OPEN");
    await breaker.execute(ok);
    expect(breaker.state).toBe("HALF_OPEN");
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(["CLOSED->OPEN", "OPEN->HALF_OPEN"]);
  });

  it("closes after successThreshold successful trials", async () => {
    const { breaker, changes, advance } = setup();
    await failTimes(breaker, 3);
    advance(10_000);
    await breaker.execute(ok);
    await breaker.execute(ok);
    expect(breaker.state).toBe("CLOSED");
    expect(changes.at(-1)).toMatchObject({ from: "HALF_OPEN", to: "CLOSED" });
    expect(breaker.snapshot()).toMatchObject({ failures: 0, successes: 0, openedAt: null });
  });

  it("reopens on any failure in half-open and restarts the timeout", async () => {
    const { breaker, changes, advance, now } = setup();
    await failTimes(breaker, 3);
    advance(10_000);
    await breaker.execute(ok);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe("OPEN");
    expect(changes.at(-1)).toEqual({ breaker: "payment-provider", from: "HALF_OPEN", to: "OPEN", at: now() });
    advance(9_999);
    await expect(breaker.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it("lets at most halfOpenMaxCalls trial calls through at a time", async () => {
    const { breaker, advance } = setup({ halfOpenMaxCalls: 2, successThreshold: 5 });
    await failTimes(breaker, 3);
    advance(10_000);
    const first = deferred<string>();
    const second = deferred<string>();
    const p1 = breaker.execute(() => first.promise);
    const p2 = breaker.execute(() => second.promise);
    expect(breaker.canExecute()).toBe(false);
    const third = vi.fn(ok);
    await expect(breaker.execute(third)).rejects.toMatchObject({ code: "CIRCUIT_OPEN", retryAfterMs: 0 });
    expect(third).not.toHaveBeenCalled();
    first.resolve("a");
    await p1;
    expect(breaker.snapshot().halfOpenInFlight).toBe(1);
    expect(await breaker.execute(ok)).toBe("ok");
    second.resolve("b");
    await p2;
  });

  it("ignores the late result of a call started before the state changed", async () => {
    const { breaker, advance } = setup({ failureThreshold: 1, successThreshold: 1 });
    const slowFailure = deferred<string>();
    const slowSuccess = deferred<string>();
    const lateFailure = breaker.execute(() => slowFailure.promise);
    await failTimes(breaker, 1);
    advance(10_000);
    const lateSuccess = breaker.execute(() => slowSuccess.promise);
    expect(breaker.state).toBe("HALF_OPEN");
    slowFailure.reject(new Error("late"));
    await expect(lateFailure).rejects.toThrow("late");
    expect(breaker.snapshot()).toMatchObject({ state: "HALF_OPEN", halfOpenInFlight: 1 });
    breaker.reset();
    slowSuccess.resolve("late trial");
    expect(await lateSuccess).toBe("late trial");
    expect(breaker.snapshot()).toMatchObject({ state: "CLOSED", halfOpenInFlight: 0 });
  });

  it("does not count errors rejected by isFailure, and still rethrows them", async () => {
    const { breaker } = setup({ isFailure: (e) => !(e instanceof BusinessError) });
    for (let i = 0; i < 5; i++) {
      await expect(breaker.execute(() => Promise.reject(new BusinessError("declined")))).rejects.toThrow(
        "declined",
      );
    }
    expect(breaker.snapshot()).toMatchObject({ state: "CLOSED", failures: 0 });
  });

  it("counts a synchronous throw as a failure", async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await expect(
      breaker.execute(() => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    expect(breaker.state).toBe("OPEN");
  });

  it("notifies on() listeners until they unsubscribe, and survives a throwing listener", async () => {
    const { breaker, advance } = setup({ onStateChange: () => {} });
    const seen: string[] = [];
    breaker.on("stateChange", () => {
      throw new Error("listener bug");
    });
    const off = breaker.on("stateChange", (c) => seen.push(`${c.from}->${c.to}`));
    await failTimes(breaker, 3);
    off();
    advance(10_000);
    await breaker.execute(ok);
    expect(seen).toEqual(["CLOSED->OPEN"]);
    expect(breaker.state).toBe("HALF_OPEN");
  });

  it("reset() closes an open circuit and announces it", async () => {
    const { breaker, changes } = setup();
    await failTimes(breaker, 3);
    breaker.reset();
    expect(breaker.snapshot()).toMatchObject({ state: "CLOSED", failures: 0, openedAt: null });
    expect(changes.at(-1)).toMatchObject({ from: "OPEN", to: "CLOSED" });
    expect(await breaker.execute(ok)).toBe("ok");
  });

  it("a step back of the host's wall clock while open changes nothing: the trial comes after `timeout`", async () => {
    const wall = steppableWallClock();
    try {
      const breaker = new CircuitBreaker({ name: "provider", failureThreshold: 1, timeout: 50 });
      await failTimes(breaker, 1);
      // NTP steps the wall clock back 10 min; the monotonic source (the default) does not move.
      wall.step(-TEN_MINUTES_MS);
      await waitFor(() => breaker.canExecute(), 2_000, "the trial after the 50 ms open time");
      expect(await breaker.execute(ok)).toBe("ok");
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("never reports a wait longer than its own timeout, even if its source went back", async () => {
    const { breaker, advance } = setup();
    await failTimes(breaker, 3);
    advance(-600_000);
    expect(breaker.retryAfterMs()).toBe(10_000);
    const error = await breaker.execute(ok).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as CircuitOpenError).retryAfterMs).toBe(10_000);
  });

  it("rejects invalid options", () => {
    expect(() => new CircuitBreaker({ name: "x", failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ name: "x", timeout: -1 })).toThrow(RangeError);
  });
});
