/** Issue 10 input 6 over real HTTP: trailing slashes, wrong methods, and errors that name the field. */
import { describe, expect, it } from "vitest";
import { useTestGateway } from "./test-upstream.js";

const harness = useTestGateway();

type ErrorBody = { error: { code: string; message: string; details?: { path: string; message: string }[] } };

describe("gateway API conventions", () => {
  it("treats a trailing slash as the same route: GET /inventory/ lists the catalog", async () => {
    const gw = await harness.start();
    const inventory = await harness.upstream("inventory", "inv-a");
    const res = await fetch(`${gw.url}/inventory/`);
    expect(res.status).toBe(200);
    expect(inventory.hits.map((h) => h.url)).toEqual(["/inventory"]);
    expect((await fetch(`${gw.url}/health/`)).status).toBe(200);
  });

  it("answers a wrong method with 405 METHOD_NOT_ALLOWED and the Allow header", async () => {
    const gw = await harness.start();
    for (const [method, path, allow] of [
      ["DELETE", "/orders", "GET, HEAD, POST"],
      ["PUT", "/orders/o-1", "GET, HEAD"],
      ["POST", "/health", "GET, HEAD"],
      ["GET", "/dlq/some-id/retry", "POST"],
    ] as const) {
      const res = await fetch(`${gw.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get("allow")).toBe(allow);
      expect(((await res.json()) as ErrorBody).error.code).toBe("METHOD_NOT_ALLOWED");
    }
    const unknown = await fetch(`${gw.url}/nowhere`, { method: "DELETE" });
    expect(unknown.status).toBe(404);
  });
});
