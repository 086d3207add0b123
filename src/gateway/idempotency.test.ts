/**
 * Idempotency-Key semantics of POST /orders over real HTTP through the gateway (issue 10 inputs 2
 * and 3): keys are scoped per client (API key), a replay answers the order's current state with
 * `Idempotent-Replayed: true`, and a key reused with a different body is 422.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedSystem, startEmbeddedSystem } from "../system/embedded.js";
import { waitFor } from "../test-support/wait.js";

let system: EmbeddedSystem;
const keyA = "client-a-secret";
const keyB = "client-b-secret";
const adminKey = "admin-secret";

beforeAll(async () => {
  system = await startEmbeddedSystem({
    gatewayPort: 0,
    logLevel: "silent",
    pretty: false,
    apiKeys: [keyA, keyB],
    adminKeys: [adminKey],
  });
});
afterAll(async () => {
  await system?.stop();
});

async function call(
  method: string,
  path: string,
  apiKey: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${system.gatewayUrl}${path}`, {
    method,
    headers: {
      "x-api-key": apiKey,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function newUser(apiKey: string, name: string): Promise<string> {
  const res = await call("POST", "/users", apiKey, { email: `${name}-${Date.now()}@example.com`, name });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const orderOf = (userId: string, quantity = 1) => ({
  userId,
  items: [{ productId: "prod-cable", quantity }],
  payment: { token: "tok_ok" },
});

describe("POST /orders Idempotency-Key", () => {
  it("keeps two clients' identical keys apart: B's order is placed, not refused or answered with A's", async () => {
    const alice = await newUser(keyA, "alice");
    const bob = await newUser(keyB, "bob");
    const a = await call("POST", "/orders", keyA, orderOf(alice), { "idempotency-key": "7f3c" });
    const bDifferent = await call("POST", "/orders", keyB, orderOf(bob), { "idempotency-key": "7f3c" });
    expect(a.status).toBe(202);
    expect(bDifferent.status).toBe(202);
    expect(bDifferent.body.orderId).not.toBe(a.body.orderId);
    expect(bDifferent.headers.get("idempotent-replayed")).toBeNull();
    // Same body as A's under B's key: B's own order, not A's.
    const bSame = await call("POST", "/orders", keyB, orderOf(alice), { "idempotency-key": "7f3d" });
    const aSame = await call("POST", "/orders", keyA, orderOf(alice), { "idempotency-key": "7f3d" });
    expect(bSame.status).toBe(202);
    expect(aSame.status).toBe(202);
    expect(aSame.body.orderId).not.toBe(bSame.body.orderId);
  });

  it("answers a replay with the order's current state and Idempotent-Replayed: true", async () => {
    const user = await newUser(keyA, "carol");
    const first = await call("POST", "/orders", keyA, orderOf(user), { "idempotency-key": "replay-1" });
    expect(first.status).toBe(202);
    const orderId = first.body.orderId as string;
    await waitFor(
      async () =>
        ["shipped", "delivered"].includes(
          (await call("GET", `/orders/${orderId}`, keyA)).body.status as string,
        ),
      15_000,
      "the order to ship",
    );
    const replay = await call("POST", "/orders", keyA, orderOf(user), { "idempotency-key": "replay-1" });
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.orderId).toBe(orderId);
    expect(["shipped", "delivered"]).toContain(replay.body.status);
    expect((replay.body.order as { id: string }).id).toBe(orderId);
  });

  it("refuses the same client's key with a different body with 422 IDEMPOTENCY_KEY_REUSED", async () => {
    const user = await newUser(keyA, "dave");
    expect((await call("POST", "/orders", keyA, orderOf(user, 1), { "idempotency-key": "k-9" })).status).toBe(
      202,
    );
    const reuse = await call("POST", "/orders", keyA, orderOf(user, 2), { "idempotency-key": "k-9" });
    expect(reuse.status).toBe(422);
    expect((reuse.body.error as { code: string }).code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect((reuse.body.error as { message: string }).message).toMatch(/already used with a different body/);
  });

  // newuser11 F3: the same body on another product's restock was told "a different body".
  it("says what can have differed: a restock's product (path) or body", async () => {
    const restock = (productId: string) =>
      call(
        "POST",
        `/inventory/${productId}/restock`,
        adminKey,
        { quantity: 3 },
        { "idempotency-key": "k-restock" },
      );
    expect((await restock("prod-mouse")).status).toBe(200);
    const reuse = await restock("prod-cable");
    expect(reuse.status).toBe(422);
    const error = reuse.body.error as { code: string; message: string; details: { message: string }[] };
    expect(error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(error.message).toMatch(/already used with another product in the path or a different body/);
    expect(error.details[0]?.message).toMatch(/another product in the path or a different body/);
  });

  // newuser15 F3: the key was reported only once the body was fixed, on a second round trip.
  it("names the bad body fields and the malformed key in one 400, on both keyed routes", async () => {
    const orders = await call("POST", "/orders", keyA, {}, { "idempotency-key": "a b" });
    const restock = await call(
      "POST",
      "/inventory/prod-cable/restock",
      adminKey,
      {},
      { "idempotency-key": "a b" },
    );
    for (const [res, fields] of [
      [orders, ["userId", "items", "payment"]],
      [restock, ["quantity"]],
    ] as const) {
      expect(res.status).toBe(400);
      const error = res.body.error as { code: string; details: { path: string; message: string }[] };
      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.details.map((d) => d.path)).toEqual([...fields, "header:Idempotency-Key"]);
      expect(error.details.at(-1)?.message).toMatch(/without spaces/);
    }
  });

  it("names the header and its format when the key is empty or too long", async () => {
    const user = await newUser(keyA, "erin");
    for (const key of ["", "x".repeat(5_000)]) {
      const res = await call("POST", "/orders", keyA, orderOf(user), { "idempotency-key": key });
      expect(res.status).toBe(400);
      const error = res.body.error as { code: string; details: { path: string; message: string }[] };
      expect(error.details[0]?.path).toBe("header:Idempotency-Key");
      expect(error.details[0]?.message).toMatch(/1-255/);
    }
  });
});
