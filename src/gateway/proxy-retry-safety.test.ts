import { describe, expect, it } from "vitest";
import { type TestUpstream, useTestGateway } from "./test-upstream.js";

// Issue 10 input 1: an instance applies a request and then resets the connection. Sending it to
// another instance would apply it twice, so only requests that are safe to repeat are retried.

const harness = useTestGateway();

/** Two instances of `service` that count each request they handle, then reset the connection. */
const twoResettingInstances = (service: string): Promise<TestUpstream[]> =>
  Promise.all(
    ["a", "b"].map((id) =>
      harness.upstream(service, `${service}-${id}`, () => ({ status: 200, reset: true })),
    ),
  );

const totalHits = (instances: readonly TestUpstream[]) => instances.reduce((n, u) => n + u.hits.length, 0);
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${harness.gw.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("gateway retries that cannot duplicate", () => {
  it("does not resend a POST whose connection reset after sending: one application, 502 UPSTREAM_OUTCOME_UNKNOWN", async () => {
    await harness.start();
    const instances = await twoResettingInstances("inventory");
    const res = await post("/inventory/p-1/restock", { quantity: 5 });
    expect(totalHits(instances)).toBe(1);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("UPSTREAM_OUTCOME_UNKNOWN");
    // Truthful: it does not suggest a key for this route, which does not honour one.
    expect(body.error.message).toMatch(
      /POST \/orders, POST \/users and POST \/inventory\/:productId\/restock accept an Idempotency-Key/,
    );
    expect(res.headers.get("retry-after")).toBeNull();
  });

  it("refuses an Idempotency-Key on a POST that does not honour it, before any instance applies it", async () => {
    await harness.start();
    const inventory = await harness.upstream("inventory", "inv-a");
    const users = await harness.upstream("user", "user-a");
    const orders = await harness.upstream("order", "order-a");
    const key = { "idempotency-key": "6b1d3c1e-5f0a-4a7e-9c55-1f4c1d2a0b7e" };
    const refused = [
      await post("/inventory", { productId: "p-1", name: "P", price: 100, quantity: 5 }, key),
      await post("/orders/o-1/cancel", {}, key),
    ];
    for (const res of refused) {
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: { path: string }[] } };
      expect(body.error.code).toBe("IDEMPOTENCY_KEY_NOT_SUPPORTED");
      expect(body.error.details[0]?.path).toBe("header:Idempotency-Key");
    }
    expect(totalHits([inventory, users, orders])).toBe(0);
    // Without the header the same request goes through; restock honours the key (forwarded).
    expect((await post("/inventory", { productId: "p-1", name: "P", price: 100, quantity: 5 })).status).toBe(
      200,
    );
    expect((await post("/inventory/p-1/restock", { quantity: 5 }, key)).status).toBe(200);
    expect(inventory.hits.at(-1)?.headers["idempotency-key"]).toBe(key["idempotency-key"]);
    expect(inventory.hits).toHaveLength(2);
  });

  // break35 F2: POST /users was refused a key, so a client whose create's answer was lost could
  // never learn the id. It honours one now: forwarded, and resent to another instance on a reset.
  it("forwards a keyed POST /users and resends it to another instance after a reset (safe: applied once)", async () => {
    await harness.start();
    const instances = await twoResettingInstances("user");
    const key = { "idempotency-key": "0c9f4e55-3a51-4d0e-a2f4-8f5c8a1e6b21" };
    const res = await post("/users", { email: "a@example.com", name: "A" }, key);
    expect(res.status, await res.clone().text()).toBe(502);
    expect(totalHits(instances)).toBe(2);
    expect(instances.flatMap((u) => u.hits.map((h) => h.headers["idempotency-key"]))).toEqual([
      key["idempotency-key"],
      key["idempotency-key"],
    ]);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("UPSTREAM_OUTCOME_UNKNOWN");
    expect(body.error.message).toMatch(/same Idempotency-Key is safe/);
  });

  it("resends a GET whose connection reset on another instance (safe to repeat)", async () => {
    const gw = await harness.start();
    const instances = await twoResettingInstances("inventory");
    const res = await fetch(`${gw.url}/inventory/p-1`);
    expect(totalHits(instances)).toBe(2);
    expect(res.status).toBe(502);
  });

  it("resends a POST /orders carrying an Idempotency-Key on another instance", async () => {
    await harness.start();
    const [a] = await twoResettingInstances("order");
    const b = await harness.upstream("order", "order-c", () => ({
      status: 202,
      body: { ok: true },
    }));
    await a!.close();
    // a refuses, then the resetting instance and the answering one: the key makes the resend safe.
    const order = {
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 1 }],
      payment: { token: "tok_visa" },
    };
    const res = await post("/orders", order, { "idempotency-key": "k-1" });
    expect(res.status).toBe(202);
    expect(b.hits).toHaveLength(1);
    expect(b.hits[0]?.headers["idempotency-key"]).toBe("k-1");
  });

  it("does not resend a POST /orders without an Idempotency-Key after a reset", async () => {
    await harness.start();
    const instances = await twoResettingInstances("order");
    const order = {
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 1 }],
      payment: { token: "tok_visa" },
    };
    const res = await post("/orders", order);
    expect(res.status).toBe(502);
    expect(totalHits(instances)).toBe(1);
  });

  it("sends a POST to another instance when the first refused the connection (it never left)", async () => {
    await harness.start();
    const a = await harness.upstream("inventory", "inv-a");
    const b = await harness.upstream("inventory", "inv-b");
    await a.close();
    for (let i = 0; i < 4; i++)
      expect((await post("/inventory/p-1/restock", { quantity: 1 })).status).toBe(200);
    expect(b.hits).toHaveLength(4);
  });

  it("answers 204 to a DELETE whose first attempt was applied before the reset and whose resend finds nothing", async () => {
    const gw = await harness.start();
    // Each instance deletes the user on its first request and resets; afterwards the user is gone.
    let deleted = false;
    const answer = () => {
      if (deleted) return { status: 404, body: { error: { code: "NOT_FOUND", message: "gone" } } };
      deleted = true;
      return { status: 204, reset: true };
    };
    const instances = await Promise.all(
      ["a", "b"].map((id) => harness.upstream("user", `user-${id}`, answer)),
    );
    const res = await fetch(`${gw.url}/users/u-1`, { method: "DELETE" });
    expect(totalHits(instances)).toBe(2);
    expect(res.status).toBe(204);
    // A DELETE of a missing user without an ambiguous attempt before stays 404.
    const again = await fetch(`${gw.url}/users/u-1`, { method: "DELETE" });
    expect(again.status).toBe(404);
  });
});
