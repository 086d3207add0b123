import { describe, expect, it } from "vitest";
import { Metrics } from "../observability/metrics.js";
import type { ClockStep, SharedClock } from "../redis/clock.js";
import { reportClockSteps } from "./service-clock.js";

describe("reportClockSteps", () => {
  it("logs one warning with the step's size and counts it by direction, until stopped", async () => {
    const listeners = new Set<(step: ClockStep) => void>();
    const clock: SharedClock = {
      now: () => 0,
      sync: async () => {},
      resync: async () => {},
      recentBackwardStepMs: () => 0,
      onStep: (listener) => {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
      stop: () => {},
    };
    const metrics = new Metrics({ service: "test" });
    const warnings: { obj: object; msg: string | undefined }[] = [];
    const stop = reportClockSteps(clock, metrics, {
      warn: (obj: object, msg?: string) => warnings.push({ obj, msg }),
    });
    for (const listener of listeners) listener({ direction: "backward", stepMs: -60_000, errorMs: 2 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.obj).toEqual({ direction: "backward", stepMs: -60_000, errorMs: 2 });
    expect(warnings[0]!.msg).toContain("stepped back");
    const text = await metrics.registry.metrics();
    expect(text).toContain('ordersaga_clock_steps_total{direction="backward",service="test"} 1');
    expect(text).toContain('ordersaga_clock_steps_total{direction="forward",service="test"} 0');
    stop();
    expect(listeners.size).toBe(0);
  });
});
