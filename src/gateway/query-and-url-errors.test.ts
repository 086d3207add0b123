/**
 * Review 2 of issue 10, findings 8 and 9, over real HTTP against the whole system (embedded, memory
 * platform): a page size must be written in decimal digits, and a 414 names its limit without
 * echoing the over-long path back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedSystem, startEmbeddedSystem } from "../system/embedded.js";

type ErrorBody = { error: { code: string; message: string; details?: unknown } };

let system: EmbeddedSystem;
beforeAll(async () => {
  system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
}, 120_000);
afterAll(async () => {
  await system?.stop();
});

// Each with the parameters it needs besides limit (`/notifications` needs a user or an order).
const LIST_ROUTES = [
  "/orders?",
  "/inventory?",
  "/notifications?userId=u-1&",
  "/dlq?",
  "/payments/reconciliation?",
];

describe("list routes' limit", () => {
  it.each(["1e2", "0x10", "1.0", "+5", "", " 5"])(
    "refuses limit=%j with 400 VALIDATION_FAILED at query:limit",
    async (limit) => {
      for (const route of LIST_ROUTES) {
        const res = await fetch(`${system.gatewayUrl}${route}limit=${encodeURIComponent(limit)}`);
        const body = (await res.json()) as ErrorBody;
        expect({ route, status: res.status, code: body.error?.code }).toEqual({
          route,
          status: 400,
          code: "VALIDATION_FAILED",
        });
        expect(body.error.details).toContainEqual({
          path: "query:limit",
          message: expect.stringMatching(/^limit: an integer from 1 to \d+$/),
        });
      }
    },
  );

  it("still accepts a limit in plain digits", async () => {
    for (const route of LIST_ROUTES) {
      const res = await fetch(`${system.gatewayUrl}${route}limit=100`);
      expect({ route, status: res.status }).toEqual({ route, status: 200 });
    }
  });
});

// Break10 F7: /orders ignored an unknown parameter while /notifications refused it. Every list
// route refuses one now, naming it (a misspelt `user_id` must not silently list everything).
describe("list routes' unknown query parameters", () => {
  it("refuses an unknown parameter with 400 VALIDATION_FAILED naming it, on every list route", async () => {
    for (const route of LIST_ROUTES) {
      const res = await fetch(`${system.gatewayUrl}${route}user_id=u-1`);
      const body = (await res.json()) as ErrorBody;
      expect({ route, status: res.status, code: body.error?.code }).toEqual({
        route,
        status: 400,
        code: "VALIDATION_FAILED",
      });
      expect(body.error.details, route).toContainEqual({
        path: "query:user_id",
        message: expect.any(String),
      });
    }
  });
});

// break42 F4: the order reads by id ignored their query, so `?asOf=2020-01-01` answered the
// present with 200. They take none: any parameter is 400 naming it, as on the list routes.
describe("order reads by id", () => {
  it.each([
    ["/orders/o-1/events?asOf=2020-01-01", "query:asOf"],
    ["/orders/o-1/events?version=-1", "query:version"],
    ["/orders/o-1?version=1", "query:version"],
  ])("refuses %s with 400 VALIDATION_FAILED at %s", async (path, param) => {
    const res = await fetch(`${system.gatewayUrl}${path}`);
    const body = (await res.json()) as ErrorBody;
    expect({ status: res.status, code: body.error?.code }).toEqual({
      status: 400,
      code: "VALIDATION_FAILED",
    });
    expect(body.error.details).toEqual([{ path: param, message: expect.any(String) }]);
  });

  it("still answers without a query (404 for an unknown order)", async () => {
    for (const path of ["/orders/o-1", "/orders/o-1/events"])
      expect((await fetch(`${system.gatewayUrl}${path}`)).status).toBe(404);
  });
});

describe("an over-long URL", () => {
  it("answers 414 URI_TOO_LONG with the limit, without echoing the path", async () => {
    const marker = "q7z".repeat(400);
    const res = await fetch(`${system.gatewayUrl}/inventory/${marker}`);
    const text = await res.text();
    expect(res.status).toBe(414);
    expect(text).not.toContain("q7zq7z");
    const body = JSON.parse(text) as ErrorBody;
    expect(body.error.code).toBe("URI_TOO_LONG");
    expect(body.error.details).toEqual({ maxPathSegmentLength: 1_000 });
    expect(text.length).toBeLessThan(400);
  });
});
