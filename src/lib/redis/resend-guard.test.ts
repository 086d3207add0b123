import { expect, it } from "vitest";
import { isOutage, isRetryable } from "../bus/errors.js";
import { ReplyLostError } from "./resend-guard.js";

it("a lost reply is a retryable outage for the bus, not a bad message", () => {
  const error = new ReplyLostError("evalsha");
  expect(isRetryable(error)).toBe(true);
  expect(isOutage(error)).toBe(true);
  expect(isOutage(new Error("boom"))).toBe(false);
});
