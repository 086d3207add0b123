/**
 * The one-line start failure reasons (launch-signal.ts): a host the process cannot listen on is
 * named by its variable, not taken for an unreachable Redis (newuser8 M2).
 */
import { describe, expect, it } from "vitest";
import { startFailureReason } from "./launch-signal.js";

/** An error shaped like Node's, as `listen` or a Redis connection raises it. */
const nodeError = (message: string, fields: Record<string, string>) =>
  Object.assign(new Error(message), fields);

describe("startFailureReason", () => {
  it("names SERVICE_HOST when the host to listen on does not resolve", () => {
    const error = nodeError("getaddrinfo ENOTFOUND bad.invalid", {
      code: "ENOTFOUND",
      syscall: "getaddrinfo",
      hostname: "bad.invalid",
    });
    expect(startFailureReason(error, 4001, { variable: "SERVICE_HOST", host: "bad.invalid" })).toBe(
      "cannot listen on SERVICE_HOST=bad.invalid (getaddrinfo ENOTFOUND bad.invalid): set SERVICE_HOST " +
        "to a name or address of this machine (127.0.0.1, the default; 0.0.0.0 for every interface)",
    );
  });

  it("names GATEWAY_HOST for an address that is not this machine's", () => {
    const error = nodeError("listen EADDRNOTAVAIL: address not available 10.99.99.99", {
      code: "EADDRNOTAVAIL",
      syscall: "listen",
      address: "10.99.99.99",
    });
    expect(startFailureReason(error, 8080, { variable: "GATEWAY_HOST", host: "10.99.99.99" })).toMatch(
      /^cannot listen on GATEWAY_HOST=10\.99\.99\.99 \(listen EADDRNOTAVAIL/,
    );
  });

  it("still calls a Redis host that does not resolve unreachable Redis", () => {
    const error = nodeError("getaddrinfo ENOTFOUND redis.invalid", {
      code: "ENOTFOUND",
      syscall: "getaddrinfo",
      hostname: "redis.invalid",
    });
    expect(startFailureReason(error, 4001, { variable: "SERVICE_HOST", host: "127.0.0.1" })).toMatch(
      /^Redis is unreachable \(getaddrinfo ENOTFOUND redis\.invalid\)/,
    );
  });

  // A process started with REDIS_USERNAME / REDIS_PASSWORD (--redis-acl) was sent to REDIS_URL only.
  it("a refused login points at REDIS_USERNAME / REDIS_PASSWORD too", () => {
    expect(
      startFailureReason(new Error("WRONGPASS invalid username-password pair or user is disabled.")),
    ).toMatch(/check the password and database in REDIS_URL, and REDIS_USERNAME \/ REDIS_PASSWORD when set$/);
  });

  it("still reports a port in use as such", () => {
    const error = nodeError("listen EADDRINUSE: address already in use 127.0.0.1:4001", {
      code: "EADDRINUSE",
      syscall: "listen",
    });
    expect(startFailureReason(error, 4001, { variable: "SERVICE_HOST", host: "127.0.0.1" })).toMatch(
      /^port 4001 is already in use/,
    );
  });

  // newuser13 F7: for `npm start` (GATEWAY_HOST) the fix that applies, GATEWAY_PORT=0, came last.
  it("puts the port variable of the process that failed first: GATEWAY_PORT=0 for the gateway", () => {
    const error = nodeError("listen EADDRINUSE: address already in use 127.0.0.1:8080", {
      code: "EADDRINUSE",
      syscall: "listen",
    });
    expect(startFailureReason(error, 8080, { variable: "GATEWAY_HOST", host: "127.0.0.1" })).toMatch(
      /^port 8080 is already in use \([^)]*\): start on another port: GATEWAY_PORT=0 \(any free port\)/,
    );
    expect(startFailureReason(error, 3001, { variable: "SERVICE_HOST", host: "127.0.0.1" })).toContain(
      "start on another port: SERVICE_PORT=0",
    );
  });
});
