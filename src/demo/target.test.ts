/** What the demo says of its own system, and how long it waits for it (newuser11 F5, F7). */
import { describe, expect, it } from "vitest";
import { DEFAULT_DEMO_START_TIMEOUT_MS, demoStartTimeoutMs, ownSystemMode } from "./target.js";

describe("ownSystemMode", () => {
  it("names the database it runs in with that database's URL, not REDIS_URL's", () => {
    const note = "database 6 of REDIS_URL holds 2 keys but no running gateway";
    const mode = ownSystemMode("redis://127.0.0.1:6411/2", 2, note);
    expect(mode).toMatch(
      /^its own system \(every service a process\) in Redis database 2 \(redis:\/\/127\.0\.0\.1:6411\/2\) \(database 6 of REDIS_URL/,
    );
    expect(mode).not.toContain("6411/6");
  });

  it("never shows the URL's password", () => {
    expect(ownSystemMode("redis://:s3cret@127.0.0.1:6411/3", 3)).not.toContain("s3cret");
  });
});

describe("demoStartTimeoutMs", () => {
  it("is generous by default (a 2-core machine under load took 88 s) and set by DEMO_START_TIMEOUT_MS", () => {
    expect(demoStartTimeoutMs({})).toBe(DEFAULT_DEMO_START_TIMEOUT_MS);
    expect(DEFAULT_DEMO_START_TIMEOUT_MS).toBeGreaterThanOrEqual(180_000);
    expect(demoStartTimeoutMs({ DEMO_START_TIMEOUT_MS: "300000" })).toBe(300_000);
  });

  it("refuses a bad value in one line naming it", () => {
    expect(() => demoStartTimeoutMs({ DEMO_START_TIMEOUT_MS: "soon" })).toThrow(
      /^Invalid configuration: DEMO_START_TIMEOUT_MS: /,
    );
  });
});
