import { describe, expect, it } from "vitest";
import { AvoidList } from "./avoid-list.js";

/** An avoid-list on a clock the test moves. */
function avoidList(avoidMs = 3_000) {
  let now = 1_000_000;
  const list = new AvoidList({ avoidMs, monotonicNow: () => now });
  return { list, advance: (ms: number) => (now += ms) };
}

const self = (key: string) => key;

describe("avoiding the instances that failed this gateway", () => {
  it("skips an instance for avoidMs after a timeout or refused credential, and not after another failure", () => {
    const { list, advance } = avoidList(3_000);
    list.failed("a", { avoid: true });
    list.failed("b", { avoid: false });
    expect(list.isAvoided("a")).toBe(true);
    expect(list.isAvoided("b")).toBe(false);
    expect(list.isAvoided("never-failed")).toBe(false);
    advance(2_999);
    expect(list.isAvoided("a")).toBe(true);
    advance(1);
    expect(list.isAvoided("a")).toBe(false);
  });

  it("stops avoiding an instance as soon as it answers", () => {
    const { list } = avoidList();
    list.failed("a", { avoid: true });
    list.answered("a");
    expect(list.isAvoided("a")).toBe(false);
  });

  it("forces a trial on the instance that failed longest ago: one never failed first, the first of equals", () => {
    const { list, advance } = avoidList();
    list.failed("a", { avoid: true });
    advance(10);
    list.failed("b", { avoid: true });
    expect(list.leastRecentlyFailed(["b", "a"], self)).toBe("a");
    expect(list.leastRecentlyFailed(["b", "a", "fresh"], self)).toBe("fresh");
    expect(list.leastRecentlyFailed(["fresh-1", "fresh-2"], self)).toBe("fresh-1");
    expect(list.leastRecentlyFailed([], self)).toBeUndefined();
  });

  it("passes over an instance whose forced trial is in flight until the trial ends", () => {
    const { list } = avoidList();
    list.failed("a", { avoid: true });
    list.beginTrial("a");
    expect(list.leastRecentlyFailed(["a"], self)).toBeUndefined();
    list.failed("b", { avoid: true });
    expect(list.leastRecentlyFailed(["a", "b"], self)).toBe("b");
    list.endTrial("a");
    expect(list.leastRecentlyFailed(["a", "b"], self)).toBe("a");
  });

  it("forgets a deregistered instance: no avoidance, no time of failure", () => {
    const { list, advance } = avoidList();
    list.failed("a", { avoid: true });
    advance(10);
    list.failed("b", { avoid: false });
    list.forget("a");
    expect(list.isAvoided("a")).toBe(false);
    expect(list.leastRecentlyFailed(["b", "a"], self)).toBe("a");
  });
});
