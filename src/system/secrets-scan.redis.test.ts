/**
 * Issue 12 (5), "no secrets in text": orders placed through the gateway, with provider errors,
 * declines and malformed bodies, then every log line, every Redis key and value of every type and
 * the AOF are searched for the payment tokens used and for the users' emails and phone numbers
 * (issue 12 (1): encrypted at rest and in events). Each token is unique (`tok_<mode>__<random>`:
 * the simulator's test-mode suffix), each email and phone too, so the scan cannot pass because a
 * value looks like another.
 */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ApiClient, createApiClient } from "../demo/client.js";
import type { OrderView } from "../demo/scenarios.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { tokenKeyKey } from "../lib/security/payment-token.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { allKeys } from "./key-scan.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

const TERMINAL = ["shipped", "delivered", "failed", "cancelled"];

/** Every value of every key, whatever its type, as text. */
async function dumpRedis(redis: Redis): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for (const key of await allKeys(redis)) {
    const type = await redis.type(key);
    const value =
      type === "string"
        ? await redis.get(key)
        : type === "hash"
          ? await redis.hgetall(key)
          : type === "list"
            ? await redis.lrange(key, 0, -1)
            : type === "set"
              ? await redis.smembers(key)
              : type === "zset"
                ? await redis.zrange(key, 0, -1, "WITHSCORES")
                : type === "stream"
                  ? await redis.xrange(key, "-", "+")
                  : `(${type})`;
    out.push({ key, text: `${key} ${JSON.stringify(value)}` });
  }
  return out;
}

async function readAof(redis: Redis): Promise<string> {
  const [, dir] = (await redis.config("GET", "dir")) as [string, string];
  const [, sub] = (await redis.config("GET", "appenddirname")) as [string, string];
  const aofDir = join(dir, sub);
  return readdirSync(aofDir)
    .map((file) => readFileSync(join(aofDir, file), "latin1"))
    .join("\n");
}

describeWithRedis("no payment token, email or phone number in clear anywhere", (getRedis) => {
  let system: EmbeddedSystem;
  let api: ApiClient;
  const logs: string[] = [];
  const tokens: string[] = [];
  const unique = (mode: string) => {
    const token = `tok_${mode}__${randomBytes(8).toString("hex")}`;
    tokens.push(token);
    return token;
  };

  beforeAll(async () => {
    await getRedis().flush();
    system = await startEmbeddedSystem({
      platform: createRedisPlatform({ url: getRedis().url }),
      gatewayPort: 0,
      // Debug: the most the services ever write.
      logLevel: "debug",
      pretty: false,
      logDestination: { write: (line) => void logs.push(line) },
    });
    api = createApiClient(system.gatewayUrl);
  }, 60_000);
  afterAll(() => system?.stop());

  it("finds none of the tokens, emails or phone numbers in the logs, in any Redis key or value or in the AOF", async () => {
    // Ten unique digits, not ending in 0000 (the simulator's invalid number).
    const digits = () => `${randomInt(100_000_000, 999_999_999)}7`;
    const contacts = {
      email: `scan-${randomUUID()}@example.com`,
      phone: `+1 ${digits()}`,
      newEmail: `scan-new-${randomUUID()}@example.com`,
      newPhone: `+44 ${digits()}`,
    };
    const user = await api.post<{ id: string }>("/users", {
      email: contacts.email,
      name: "Scan User",
      phone: contacts.phone,
      preferences: { email: true, sms: true },
    });
    expect(user.status).toBe(201);
    // The user's own GET still shows the contact data in clear.
    expect((await api.get(`/users/${user.body.id}`)).body).toMatchObject({
      email: contacts.email,
      phone: contacts.phone,
    });
    // A second user with the same email: refused (the unique-email claim works on sealed data).
    expect((await api.post("/users", { email: contacts.email.toUpperCase(), name: "Twin" })).status).toBe(
      409,
    );
    const productId = `scan-${randomUUID().slice(0, 8)}`;
    expect(
      (await api.post("/inventory", { productId, name: productId, price: 500, quantity: 100 })).status,
    ).toBe(201);
    const body = (token: string) => ({
      userId: user.body.id,
      items: [{ productId, quantity: 1 }],
      payment: { token },
    });

    const orderIds: string[] = [];
    // Approved, declined, and a provider error before the approval.
    for (const mode of ["ok", "decline", "flaky", "ok"]) {
      const res = await api.post<{ orderId: string }>("/orders", body(unique(mode)));
      expect(res.status).toBe(202);
      orderIds.push(res.body.orderId);
    }
    // New contact data, then one more order notified to it.
    const updated = await api.put(`/users/${user.body.id}`, {
      email: contacts.newEmail,
      phone: contacts.newPhone,
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ email: contacts.newEmail, phone: contacts.newPhone });
    const last = await api.post<{ orderId: string }>("/orders", body(unique("ok")));
    expect(last.status).toBe(202);
    orderIds.push(last.body.orderId);
    // Malformed bodies that carry a token: bad JSON, an unknown field, a token of the wrong shape.
    const raw = (text: string) =>
      fetch(`${system.gatewayUrl}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: text,
      });
    expect((await raw(`{"userId":"${user.body.id}","payment":{"token":"${unique("ok")}"`)).status).toBe(400);
    expect((await raw(JSON.stringify({ ...body("tok_ok"), note: unique("ok") }))).status).toBe(400);
    const badShape = `tok_bad-${randomBytes(8).toString("hex")}`;
    tokens.push(badShape);
    expect((await raw(JSON.stringify(body(badShape)))).status).toBe(400);

    for (const orderId of orderIds) {
      await waitFor(
        async () => {
          const res = await api.get<OrderView>(`/orders/${orderId}`);
          return TERMINAL.includes(res.body.status) ? res.body : undefined;
        },
        30_000,
        `order ${orderId} settled`,
      );
    }
    // Crypto-shredding: every ended order's token key is gone.
    const redis = getRedis().client();
    await waitFor(
      async () =>
        (await Promise.all(orderIds.map((id) => redis.exists(tokenKeyKey(id))))).every((n) => n === 0),
      10_000,
      "token keys deleted",
    );

    const values = await dumpRedis(redis);
    expect(values.length).toBeGreaterThan(20);
    // The scan finds a value when it is there: the user's id is in many places.
    expect(values.some((v) => v.text.includes(user.body.id))).toBe(true);
    const aof = await readAof(redis);
    expect(aof).toContain(user.body.id);
    expect(logs.length).toBeGreaterThan(10);

    // The notifications went out (by email and SMS, to the contact data the service opened).
    const sent = await waitFor(
      async () => {
        const res = await api.get<{ notifications: { channel: string; status: string }[] }>(
          `/notifications?userId=${user.body.id}&limit=500`,
        );
        const done = res.body.notifications.filter((n) => n.status === "sent");
        return done.some((n) => n.channel === "sms") && done.some((n) => n.channel === "email")
          ? done
          : undefined;
      },
      30_000,
      "email and SMS notifications sent",
    );
    expect(sent.length).toBeGreaterThan(1);

    const secrets = [
      ...tokens.map((token) => token.slice(-16)), // the unique part: found however the token was encoded
      contacts.email,
      contacts.newEmail,
      contacts.email.split("@")[0]!.slice(5), // the email's random part, whatever surrounds it
      contacts.newEmail.split("@")[0]!.slice(9),
      contacts.phone.slice(3),
      contacts.newPhone.slice(4),
    ];
    for (const secret of secrets) {
      expect(logs.filter((line) => line.includes(secret))).toEqual([]);
      expect(values.filter((v) => v.text.includes(secret)).map((v) => v.key)).toEqual([]);
      expect(aof.includes(secret), `${secret} in the AOF`).toBe(false);
    }
  }, 120_000);
});
