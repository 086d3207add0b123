import { describe, expect, it } from "vitest";
import { BusError } from "./errors.js";
import {
  crashLoopReason,
  DEFAULT_MUST_COMPLETE,
  decideOnFailure,
  mustCompleteBackoff,
  type RetryPolicy,
} from "./retry-policy.js";

const retry: RetryPolicy = { maxAttempts: 3, backoff: (n) => n * 100, maxSilentDeliveries: 3 };
const base = { message: "boom", ageMs: 0 };

describe("retry policies", () => {
  it("default: retries a retryable error until maxAttempts, then dead-letters", () => {
    const failure = new Error("boom");
    expect(
      decideOnFailure(
        { ...base, error: failure, attempt: 2, policy: "default" },
        retry,
        DEFAULT_MUST_COMPLETE,
      ),
    ).toEqual({
      action: "retry",
      delayMs: 200,
      waited: false,
    });
    expect(
      decideOnFailure(
        { ...base, error: failure, attempt: 3, policy: "default" },
        retry,
        DEFAULT_MUST_COMPLETE,
      ),
    ).toEqual({
      action: "dead-letter",
      reason: "failed 3 attempts: boom",
      budgetSpent: true,
    });
  });

  it("must-complete: keeps retrying far past maxAttempts inside the 6 h window, then dead-letters", () => {
    const inside = decideOnFailure(
      { ...base, error: new Error("boom"), attempt: 500, policy: "must-complete", ageMs: 5 * 3_600_000 },
      retry,
      DEFAULT_MUST_COMPLETE,
      () => 1,
    );
    expect(inside).toEqual({ action: "retry", delayMs: 60_000, waited: true });
    const spent = decideOnFailure(
      { ...base, error: new Error("boom"), attempt: 501, policy: "must-complete", ageMs: 6 * 3_600_000 },
      retry,
      DEFAULT_MUST_COMPLETE,
    );
    expect(spent).toMatchObject({ action: "dead-letter", budgetSpent: true });
  });

  it("both: a retry never comes before the error's retryAfterMs hint (an open breaker)", () => {
    const waiting = new BusError("PROVIDER_UNAVAILABLE", "circuit open", {
      retryable: true,
      retryAfterMs: 25_000,
    });
    for (const policy of ["default", "must-complete"] as const) {
      const decision = decideOnFailure(
        { ...base, error: waiting, attempt: 1, policy },
        retry,
        DEFAULT_MUST_COMPLETE,
      );
      expect(decision).toEqual({ action: "retry", delayMs: 25_000, waited: policy === "must-complete" });
    }
    // A hint that would start the next attempt past the window spends the window instead.
    const late = decideOnFailure(
      {
        ...base,
        error: waiting,
        attempt: 9,
        policy: "must-complete",
        ageMs: DEFAULT_MUST_COMPLETE.windowMs - 10_000,
      },
      retry,
      DEFAULT_MUST_COMPLETE,
      () => 0,
    );
    expect(late).toMatchObject({ action: "dead-letter", budgetSpent: true });
  });

  it("both: a non-retryable error is dead-lettered at once", () => {
    for (const policy of ["default", "must-complete"] as const) {
      const decision = decideOnFailure(
        { ...base, error: new BusError("INVALID", "bad"), attempt: 1, policy, message: "bad" },
        retry,
        DEFAULT_MUST_COMPLETE,
      );
      expect(decision).toEqual({ action: "dead-letter", reason: "not retryable: bad", budgetSpent: false });
    }
  });

  it("must-complete backoff doubles from 1 s, is capped at 60 s and jittered between half and all", () => {
    expect([1, 2, 3, 7, 20].map((n) => mustCompleteBackoff(n, DEFAULT_MUST_COMPLETE, () => 1))).toEqual([
      1_000, 2_000, 4_000, 60_000, 60_000,
    ]);
    expect(mustCompleteBackoff(3, DEFAULT_MUST_COMPLETE, () => 0)).toBe(2_000);
  });

  it("names a crash loop by its silent deliveries", () => {
    expect(crashLoopReason(3)).toBe(
      "delivered 3 times without an outcome (the consumer crashed or was killed)",
    );
  });
});

describe("an outage is not poison (client-kill chaos: 3 lost replies dead-lettered a saga step)", () => {
  const outage = Object.assign(new Error("the connection to Redis closed before EVALSHA was answered"), {
    outage: true,
  });
  const window = { ...DEFAULT_MUST_COMPLETE, windowMs: 60_000 };

  it("default policy: retries an outage past maxAttempts while the must-complete window lasts", () => {
    const decision = decideOnFailure(
      { ...base, error: outage, attempt: 5, policy: "default", ageMs: 10_000 },
      retry,
      window,
      () => 0,
    );
    expect(decision.action).toBe("retry");
  });

  it("default policy: dead-letters an outage that outlasts the window, saying so", () => {
    expect(
      decideOnFailure(
        { ...base, error: outage, attempt: 9, policy: "default", ageMs: 59_999 },
        retry,
        window,
        () => 0,
      ),
    ).toMatchObject({
      action: "dead-letter",
      reason: expect.stringMatching(/^outage outlasted the retry window/),
    });
  });

  it("default policy: any other error still spends the poison budget", () => {
    expect(
      decideOnFailure({ ...base, error: new Error("boom"), attempt: 3, policy: "default" }, retry, window),
    ).toMatchObject({ action: "dead-letter", budgetSpent: true });
  });
});

describe("an error that waits for an outcome is not poison (a carrier booking still in flight)", () => {
  const unknown = new BusError("CARRIER_OUTCOME_UNKNOWN", "outcome unknown", {
    retryable: true,
    waits: true,
  });
  const window = { ...DEFAULT_MUST_COMPLETE, windowMs: 60_000 };

  it("default policy: retries it past maxAttempts while the must-complete window lasts", () => {
    const decision = decideOnFailure(
      { ...base, error: unknown, attempt: 5, policy: "default", ageMs: 10_000 },
      retry,
      window,
      () => 0,
    );
    expect(decision.action).toBe("retry");
  });

  it("default policy: dead-letters it once the window is spent, saying the outcome is still unknown", () => {
    expect(
      decideOnFailure(
        { ...base, error: unknown, attempt: 9, policy: "default", ageMs: 59_999 },
        retry,
        window,
        () => 0,
      ),
    ).toMatchObject({
      action: "dead-letter",
      reason: expect.stringMatching(/^outcome still unknown after the retry window of 60000 ms/),
      budgetSpent: true,
    });
  });

  it("waits only when retryable, and other errors of the same handler keep the 3 attempts", () => {
    const refused = new BusError("CARRIER_REFUSED", "no", { waits: true });
    expect(
      decideOnFailure({ ...base, error: refused, attempt: 1, policy: "default" }, retry, window),
    ).toMatchObject({ action: "dead-letter", budgetSpent: false });
    expect(
      decideOnFailure(
        { ...base, error: new Error("unreadable"), attempt: 3, policy: "default" },
        retry,
        window,
      ),
    ).toMatchObject({ action: "dead-letter", reason: "failed 3 attempts: boom" });
  });

  it("default policy: a waiting retry is marked waited, and the attempts that waited spend no budget", () => {
    expect(
      decideOnFailure({ ...base, error: unknown, attempt: 1, policy: "default" }, retry, window, () => 0),
    ).toMatchObject({ action: "retry", waited: true });
    // Attempts 1 and 2 waited: attempt 3's ordinary error is the first of 3, retried after backoff(1).
    expect(
      decideOnFailure(
        { ...base, error: new Error("blip"), attempt: 3, waitedAttempts: 2, policy: "default" },
        retry,
        window,
      ),
    ).toEqual({ action: "retry", delayMs: 100, waited: false });
    // Its third ordinary error is parked; the reason counts the ordinary attempts and the waiting ones.
    expect(
      decideOnFailure(
        { ...base, error: new Error("blip"), attempt: 5, waitedAttempts: 2, policy: "default" },
        retry,
        window,
      ),
    ).toEqual({
      action: "dead-letter",
      reason: "failed 3 attempts (after 2 retries that waited): boom",
      budgetSpent: true,
    });
  });

  it("default policy: a waitedAttempts past the failed attempts is clamped (a record the attempt never spent)", () => {
    expect(
      decideOnFailure(
        { ...base, error: new Error("blip"), attempt: 3, waitedAttempts: 7, policy: "default" },
        retry,
        window,
      ),
    ).toEqual({ action: "retry", delayMs: 100, waited: false });
  });
});
