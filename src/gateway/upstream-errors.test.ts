import { describe, expect, it } from "vitest";
import {
  errorCode,
  hasErrorShape,
  isDrainingResponse,
  isIdempotentMethod,
  isRequestScopedAnswer,
  neverReached,
} from "./upstream-errors.js";

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe("upstream error classification", () => {
  it("treats only failures to connect as never reached, even when wrapped", () => {
    expect(neverReached(withCode("ECONNREFUSED"))).toBe(true);
    expect(neverReached(withCode("UND_ERR_CONNECT_TIMEOUT"))).toBe(true);
    expect(neverReached(new Error("fetch failed", { cause: withCode("ECONNREFUSED") }))).toBe(true);
    expect(errorCode(new Error("x", { cause: withCode("EPIPE") }))).toBe("EPIPE");
  });

  it("does not treat a reset or closed socket as never reached: the request may have been applied", () => {
    expect(neverReached(withCode("ECONNRESET"))).toBe(false);
    expect(neverReached(withCode("UND_ERR_SOCKET"))).toBe(false);
    expect(neverReached(withCode("EPIPE"))).toBe(false);
  });

  it("does not treat timeouts, aborts or plain errors as never reached", () => {
    expect(neverReached(withCode("UND_ERR_HEADERS_TIMEOUT"))).toBe(false);
    expect(neverReached(withCode("UND_ERR_ABORTED"))).toBe(false);
    expect(neverReached(new Error("boom"))).toBe(false);
    expect(neverReached("ECONNREFUSED")).toBe(false);
  });

  it("recognises Fastify's drain answer and nothing else", () => {
    const drain = Buffer.from(
      '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}',
    );
    expect(isDrainingResponse(503, drain)).toBe(true);
    expect(isDrainingResponse(500, drain)).toBe(false);
    const ours = Buffer.from('{"error":{"code":"SERVICE_UNAVAILABLE","message":"down"}}');
    expect(isDrainingResponse(503, ours)).toBe(false);
  });

  it("detects the one error shape only in JSON bodies", () => {
    const ours = Buffer.from('{"error":{"code":"EMAIL_TAKEN","message":"taken"}}');
    expect(hasErrorShape(ours, "application/json; charset=utf-8")).toBe(true);
    expect(hasErrorShape(ours, "text/html")).toBe(false);
    expect(hasErrorShape(Buffer.from('{"error":"x"}'), "application/json")).toBe(false);
    expect(hasErrorShape(Buffer.from("{oops"), "application/json")).toBe(false);
  });

  it("does not count a lost Redis reply against the instance: every instance shares that Redis", () => {
    const lost = Buffer.from('{"error":{"code":"REDIS_REPLY_LOST","message":"lost"}}');
    expect(isRequestScopedAnswer(503, lost, "application/json; charset=utf-8")).toBe(true);
    const internal = Buffer.from('{"error":{"code":"INTERNAL","message":"Internal server error"}}');
    expect(isRequestScopedAnswer(500, internal, "application/json")).toBe(false);
  });

  it("repeats only GET, HEAD and PUT", () => {
    expect(["GET", "put", "HEAD", "DELETE"].every(isIdempotentMethod)).toBe(true);
    expect(["POST", "PATCH"].some(isIdempotentMethod)).toBe(false);
  });
});
