import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startTicker } from "./ticker.js";

describe("startTicker", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs the task every interval, the first after the interval unless told otherwise", async () => {
    let runs = 0;
    const ticker = startTicker(100, async () => void (runs += 1));
    await vi.advanceTimersByTimeAsync(99);
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toBe(3);
    await ticker.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(3);
  });

  it("a rejected run is told to onError and the ticker goes on", async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const ticker = startTicker(
      10,
      async () => {
        runs += 1;
        if (runs === 1) throw new Error("redis down");
      },
      { firstDelayMs: 0, onError: (error) => errors.push(error) },
    );
    await vi.advanceTimersByTimeAsync(25);
    expect(errors.map(String)).toEqual(["Error: redis down"]);
    expect(runs).toBe(3);
    await ticker.stop();
  });

  it("a slow run is never overlapped: the next is scheduled when it ended, after delayAfter", async () => {
    let active = 0;
    let most = 0;
    const starts: number[] = [];
    const ticker = startTicker(
      10,
      async () => {
        starts.push(Date.now());
        active += 1;
        most = Math.max(most, active);
        await new Promise((resolve) => setTimeout(resolve, 50));
        active -= 1;
        return starts.length === 1;
      },
      { delayAfter: (busy) => (busy ? 1 : 30) },
    );
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(300);
    await ticker.stop();
    expect(most).toBe(1);
    // 10 (first), +50 run, +1 (busy), +50 run, +30, ...
    expect(starts.slice(0, 3).map((t) => t - t0)).toEqual([10, 61, 141]);
  });

  it("stop waits for the run in progress", async () => {
    let ended = false;
    const ticker = startTicker(10, async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ended = true;
    });
    await vi.advanceTimersByTimeAsync(20);
    const stopped = ticker.stop();
    await vi.advanceTimersByTimeAsync(50);
    await stopped;
    expect(ended).toBe(true);
  });
});
