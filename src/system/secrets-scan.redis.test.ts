/**
 * Issue 12 (5), "no secrets in text": orders placed through the gateway, with provider errors,
 * declines and malformed bodies, then every log line, every Redis value of every type and the AOF
 * are searched for the payment tokens used. Each token is unique (`tok_<mode>__<random>`: the
 * simulator's test-mode suffix), so the scan cannot pass because the token looks like another.
 */
import { randomBytes, randomUUID } from "node:crypto";
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

describeWithRedis("no payment token in clear anywhere", (getRedis) => {
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

  it("finds none of the tokens in the logs, in any Redis value or in the AOF", async () => {
    const user = await api.post<{ id: string }>("/users", {
      email: `scan-${randomUUID()}@example.com`,
      name: "Scan User",
    });
    expect(user.status).toBe(201);
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

    for (const token of tokens) {
      const secret = token.slice(-16); // the unique part: found however the token was encoded
      expect(logs.filter((line) => line.includes(secret))).toEqual([]);
      expect(values.filter((v) => v.text.includes(secret)).map((v) => v.key)).toEqual([]);
      expect(aof.includes(secret), `${token} in the AOF`).toBe(false);
    }
  }, 120_000);
});
