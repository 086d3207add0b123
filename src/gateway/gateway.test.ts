import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, startTestUpstream, type TestGateway, type TestUpstream } from "./test-upstream.js";

let gw: TestGateway;
let users: TestUpstream;
let orders: TestUpstream;
let inventory: TestUpstream;
let notifications: TestUpstream;

const json = (value: unknown) => ({ "content-type": "application/json", body: JSON.stringify(value) });
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    const { body: text, ...type } = json(body);
    init.headers = { ...type, ...headers };
    init.body = text;
  }
  const res = await fetch(`${gw.url}${path}`, init);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}
const errorCode = (body: unknown) => (body as { error: { code: string } }).error.code;

beforeAll(async () => {
  gw = await startTestGateway();
  users = await startTestUpstream(gw.registry, "user", "user-1", (hit) => {
    if (hit.method === "POST") {
      const body = JSON.parse(hit.rawBody) as { email: string };
      if (body.email === "taken@example.com") {
        return { status: 409, body: { error: { code: "EMAIL_TAKEN", message: "Email already registered" } } };
      }
      return { status: 201, body: { id: "u-1", ...body } };
    }
    if (hit.url.startsWith("/users/missing"))
      return { status: 404, body: { error: { code: "NOT_FOUND", message: "User missing not found" } } };
    if (hit.method === "DELETE") return { status: 204 };
    return { status: 200, body: { id: hit.url.split("/")[2], email: "a@example.com", name: "Ann" } };
  });
  orders = await startTestUpstream(gw.registry, "order", "order-1", (hit) => {
    if (hit.method === "POST" && hit.url === "/orders")
      return { status: 202, body: { orderId: "o-1", status: "pending" } };
    if (hit.url.endsWith("/cancel")) {
      return hit.url.startsWith("/orders/done")
        ? { status: 409, body: { error: { code: "ORDER_NOT_CANCELLABLE", message: "Order is completed" } } }
        : { status: 202, body: { orderId: "o-1", status: "cancelling" } };
    }
    if (hit.url.endsWith("/events")) return { status: 200, body: { events: [{ type: "order.placed" }] } };
    return { status: 200, body: { id: "o-1", userId: "u-1", items: [], total: 0, status: "pending" } };
  });
  inventory = await startTestUpstream(gw.registry, "inventory", "inventory-1", (hit) => {
    if (hit.method === "POST" && hit.url === "/inventory")
      return { status: 201, body: JSON.parse(hit.rawBody) };
    if (hit.url === "/inventory") return { status: 200, body: { products: [] } };
    return { status: 200, body: { productId: "p-1", name: "Widget", price: 10, available: 5, reserved: 0 } };
  });
  notifications = await startTestUpstream(gw.registry, "notification", "notification-1", (hit) => ({
    status: 200,
    body: { items: [], url: hit.url },
  }));
});

afterAll(async () => {
  for (const u of [users, orders, inventory, notifications]) await u?.close();
  await gw?.stop();
});

describe("gateway: users", () => {
  // break13 F8: the edge refused {"phone": null} (400 expected string), so a phone could not be removed.
  it("forwards PUT /users/:id {phone: null} (removes the phone) and still refuses an empty phone", async () => {
    const put = (body: string) =>
      fetch(`${gw.url}/users/u-1`, { method: "PUT", headers: { "content-type": "application/json" }, body });
    expect((await put('{"phone":null}')).status).toBe(200);
    expect(users.hits.at(-1)).toMatchObject({ method: "PUT", rawBody: '{"phone":null}' });
    const empty = await put('{"phone":""}');
    expect(empty.status).toBe(400);
    expect(errorCode(await empty.json())).toBe("VALIDATION_FAILED");
  });

  it("creates a user (201) and forwards the body byte for byte", async () => {
    const text = '{"email":"ann@example.com",  "name":"Ann"}';
    const res = await fetch(`${gw.url}/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { id: string }).id).toBe("u-1");
    expect(users.hits.at(-1)?.rawBody).toBe(text);
  });

  it("passes a 409 duplicate email through with its error body", async () => {
    const res = await call("POST", "/users", { email: "taken@example.com", name: "Bob" });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: { code: "EMAIL_TAKEN", message: "Email already registered" } });
  });

  it("rejects an invalid body with 400 VALIDATION_FAILED and every issue, before proxying", async () => {
    const before = users.hits.length;
    const res = await call("POST", "/users", { email: "not-an-email", extra: 1 });
    expect(res.status).toBe(400);
    const error = (res.body as { error: { code: string; details: { path: string; message: string }[] } })
      .error;
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details.map((d) => d.path)).toEqual(expect.arrayContaining(["email", "name"]));
    expect(users.hits.length).toBe(before);
  });

  it("gets, updates and deletes a user, with 404 passed through", async () => {
    expect((await call("GET", "/users/u-1")).status).toBe(200);
    expect((await call("GET", "/users/missing")).status).toBe(404);
    expect((await call("PUT", "/users/u-1", { name: "Anna" })).status).toBe(200);
    expect((await call("PUT", "/users/u-1", {})).status).toBe(400);
    const deleted = await call("DELETE", "/users/u-1");
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
  });

  it("forwards path parameters URL-encoded", async () => {
    await call("GET", `/users/${encodeURIComponent("a b/c")}`);
    expect(users.hits.at(-1)?.url).toBe("/users/a%20b%2Fc");
  });
});

describe("gateway: orders", () => {
  const order = { userId: "u-1", items: [{ productId: "p-1", quantity: 2 }], payment: { token: "tok_visa" } };

  it("accepts an order with 202 and passes the Idempotency-Key header through", async () => {
    const res = await call("POST", "/orders", order, { "idempotency-key": "key-1" });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ orderId: "o-1", status: "pending" });
    expect(orders.hits.at(-1)?.headers["idempotency-key"]).toBe("key-1");
  });

  it("does not forward credentials", async () => {
    await call("POST", "/orders", order, { authorization: "Bearer secret", "x-api-key": "secret" });
    expect(orders.hits.at(-1)?.headers.authorization).toBeUndefined();
    expect(orders.hits.at(-1)?.headers["x-api-key"]).toBeUndefined();
  });

  it("does not forward a client's trace context (the gateway is the trace boundary)", async () => {
    await call("POST", "/orders", order, {
      traceparent: "00-11111111111111111111111111111111-2222222222222222-01",
      tracestate: "vendor=client",
    });
    expect(orders.hits.at(-1)?.headers.traceparent).toBeUndefined();
    expect(orders.hits.at(-1)?.headers.tracestate).toBeUndefined();
  });

  it("rejects a bad order with the path of each problem", async () => {
    const res = await call("POST", "/orders", { ...order, items: [{ productId: "p-1", quantity: 0 }] });
    expect(res.status).toBe(400);
    const details = (res.body as { error: { details: { path: string }[] } }).error.details;
    expect(details.map((d) => d.path)).toContain("items.0.quantity");
  });

  it("reads an order and its events, and cancels (202) or refuses (409)", async () => {
    expect((await call("GET", "/orders/o-1")).body?.id).toBe("o-1");
    expect((await call("GET", "/orders/o-1/events")).status).toBe(200);
    expect((await call("POST", "/orders/o-1/cancel")).status).toBe(202);
    const refused = await call("POST", "/orders/done/cancel");
    expect(refused.status).toBe(409);
    expect(errorCode(refused.body)).toBe("ORDER_NOT_CANCELLABLE");
  });
});

describe("gateway: inventory and notifications", () => {
  it("lists, adds, reads and restocks products", async () => {
    expect((await call("GET", "/inventory")).status).toBe(200);
    const product = { productId: "p-9", name: "Gadget", price: 1250, quantity: 10 };
    expect((await call("POST", "/inventory", product)).status).toBe(201);
    expect((await call("GET", "/inventory/p-1")).body).toMatchObject({ productId: "p-1", available: 5 });
    expect((await call("POST", "/inventory/p-1/restock", { quantity: 5 })).status).toBe(200);
    expect(inventory.hits.at(-1)?.url).toBe("/inventory/p-1/restock");
    expect((await call("POST", "/inventory/p-1/restock", { quantity: -1 })).status).toBe(400);
  });

  it("proxies notification queries with their query string", async () => {
    const res = await call("GET", "/notifications?userId=u-1&orderId=o-1");
    expect(res.status).toBe(200);
    expect(notifications.hits.at(-1)?.url).toBe("/notifications?userId=u-1&orderId=o-1");
  });
});

describe("gateway: malformed input", () => {
  const raw = (body: string) =>
    fetch(`${gw.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body });

  it("answers 400 MALFORMED_JSON to broken JSON and to prototype poisoning", async () => {
    const broken = await raw("{nope");
    expect(broken.status).toBe(400);
    expect(errorCode(await broken.json())).toBe("MALFORMED_JSON");
    const poisoned = await raw('{"userId":"u","__proto__":{"admin":true}}');
    expect(poisoned.status).toBe(400);
    // Break10 F6: the message says why (a reserved key), not "not valid JSON".
    const { error } = (await poisoned.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("MALFORMED_JSON");
    expect(error.message).toMatch(/reserved key/);
  });

  // break13 F3, F4: invalid UTF-8 was forwarded as U+FFFD (and stored), a declared charset was
  // ignored, and a gzip body read as "not valid JSON".
  const bytes = (body: Uint8Array | string, headers: Record<string, string>, path = "/orders") =>
    fetch(`${gw.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : Buffer.from(body),
    });
  const latin1 = Buffer.concat([Buffer.from('{"userId":"Jos'), Buffer.from([0xe9]), Buffer.from('"}')]);
  const validOrder = JSON.stringify({
    userId: "u-1",
    items: [{ productId: "p-1", quantity: 2 }],
    payment: { token: "tok_visa" },
  });
  const validUser = JSON.stringify({ email: "jose@example.com", name: "José" });

  it("refuses a body that is not UTF-8 with 400 MALFORMED_JSON and forwards nothing", async () => {
    const before = orders.hits.length;
    const invalid = Buffer.concat([Buffer.from('{"userId":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    for (const body of [invalid, latin1]) {
      const res = await bytes(body, {});
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("MALFORMED_JSON");
      expect(error.message).toMatch(/not valid UTF-8/);
    }
    expect(orders.hits.length).toBe(before);
  });

  it("answers 415 UNSUPPORTED_MEDIA_TYPE to a charset other than UTF-8, and takes utf-8 in any spelling", async () => {
    const before = orders.hits.length;
    const res = await bytes(latin1, { "content-type": "application/json; charset=iso-8859-1" });
    expect(res.status).toBe(415);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(error.message).toMatch(/iso-8859-1/);
    expect(orders.hits.length).toBe(before);
    for (const type of ["application/json; charset=utf-8", 'application/json; Charset="UTF8"']) {
      const ok = await bytes(validUser, { "content-type": type }, "/users");
      expect(ok.status, type).toBeLessThan(300);
      expect(users.hits.at(-1)?.rawBody).toBe(validUser);
    }
  });

  it("answers 415 UNSUPPORTED_CONTENT_ENCODING to a compressed body, not MALFORMED_JSON", async () => {
    const before = orders.hits.length;
    const res = await bytes(gzipSync('{"userId":"u-1"}'), { "content-encoding": "gzip" });
    expect(res.status).toBe(415);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("UNSUPPORTED_CONTENT_ENCODING");
    expect(error.message).toMatch(/gzip/);
    expect(orders.hits.length).toBe(before);
    expect((await bytes(validOrder, { "content-encoding": "identity" })).status).toBeLessThan(300);
  });

  it("answers 413 PAYLOAD_TOO_LARGE to an oversize body", async () => {
    const res = await raw(JSON.stringify({ userId: "x".repeat(100_000) }));
    expect(res.status).toBe(413);
    expect(errorCode(await res.json())).toBe("PAYLOAD_TOO_LARGE");
  });

  it("answers unknown routes with 404 in the error shape", async () => {
    const res = await call("GET", "/nope");
    expect(res.status).toBe(404);
    expect(errorCode(res.body)).toBe("NOT_FOUND");
  });
});
