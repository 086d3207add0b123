/**
 * break25 F1, F2, F4 over real HTTP and a real Redis: what a service's Redis user may write to the
 * shared DLQ keys (its own group's records, any member of `{dlq}:idx`: src/system/redis-acl.ts)
 * must not take the operators' DLQ API down, nor get another group's letter purged.
 */
import type { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { deadLetterKeys } from "../../lib/dlq/keys.js";
import { sampleDeadLetter } from "../../lib/dlq/store-contract.js";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { startTestGateway, type TestGateway } from "../test-upstream.js";

const keys = deadLetterKeys();
const path = (id: string) => `/dlq/${encodeURIComponent(id)}`;
/** A real payment letter and a real inventory letter (deadLetteredAt 2025-01-01T12:0x). */
const payment = sampleDeadLetter("payment|order.placed|1-0", 1, { group: "payment" });
const inventory = sampleDeadLetter("inventory|order.created|2-0", 2);
/** What the shipping service's Redis user may plant: a hash of its own group, and an index entry. */
const plantedId = "shipping|shipping.shipment.requested|1-0";

describeWithRedis("gateway DLQ routes with planted or malformed records (break25)", (getRedis) => {
  let redis: Redis;
  let gw: TestGateway;
  beforeAll(() => {
    redis = getRedis().client();
  });
  beforeEach(async () => {
    await redis.flushall();
    gw = await startTestGateway({ platform: createRedisPlatform({ url: getRedis().url }) });
    for (const record of [payment, inventory]) await gw.platform.deadLetters.add(record);
  });
  afterEach(async () => {
    await gw.stop();
  });

  async function call(method: string, url: string, body?: unknown) {
    const res = await fetch(`${gw.url}${url}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const itemIds = (res: { body: Record<string, unknown> }) =>
    (res.body.items as { id: string }[]).map((r) => r.id);
  const code = (res: { body: Record<string, unknown> }) => (res.body.error as { code: string }).code;

  it("skips a planted record whose data does not parse on every route, and purges it by id (F1)", async () => {
    await redis.hset(keys.record(plantedId), "data", "{}", "status", "dead", "retries", "0");
    await redis.zadd(keys.index, Date.now(), plantedId);

    const all = await call("GET", "/dlq?limit=10");
    expect(all.status).toBe(200);
    expect(itemIds(all)).toEqual([inventory.id, payment.id]);
    // Met once, dropped from the index: it no longer takes a place in any page's budget.
    expect(await redis.zscore(keys.index, plantedId)).toBeNull();
    await redis.zadd(keys.index, Date.now(), plantedId); // planted again
    expect(itemIds(await call("GET", "/dlq?group=payment"))).toEqual([payment.id]);
    await redis.zadd(keys.index, Date.now(), plantedId);
    expect(itemIds(await call("GET", "/dlq?status=dead"))).toEqual([inventory.id, payment.id]);
    await redis.zadd(keys.index, Date.now(), plantedId);
    const bulk = await call("POST", "/dlq/retry", { group: "payment" });
    expect(bulk).toMatchObject({ status: 200, body: { retried: [payment.id], failed: [] } });
    await redis.zadd(keys.index, Date.now(), plantedId);
    const purge = await call("DELETE", "/dlq?olderThan=2099-01-01T00:00:00Z&status=archived");
    expect(purge).toEqual({ status: 200, body: { purged: [] } });

    // Single-record routes: a typed 409, its content never echoed.
    for (const [method, url] of [
      ["GET", path(plantedId)],
      ["POST", `${path(plantedId)}/archive`],
      ["POST", `${path(plantedId)}/retry`],
    ] as const) {
      const res = await call(method, url);
      expect({ url, status: res.status, code: code(res) }).toEqual({
        url,
        status: 409,
        code: "DLQ_MALFORMED",
      });
    }
    const byIds = await call("POST", "/dlq/retry", { ids: [plantedId, inventory.id] });
    expect(byIds.body).toMatchObject({
      retried: [inventory.id],
      failed: [{ id: plantedId, error: { code: "DLQ_MALFORMED" } }],
    });

    // The operator's way out: a purge by its id removes whatever is stored, audited.
    expect(await call("DELETE", path(plantedId))).toEqual({ status: 200, body: { purged: [plantedId] } });
    expect(await redis.exists(keys.record(plantedId))).toBe(0);
    expect((await call("DELETE", path(plantedId))).status).toBe(404);
  });

  it("skips a record whose status this release does not know, and archives nothing of it (F1)", async () => {
    await redis.hset(keys.record(inventory.id), "status", "bogus");
    expect(itemIds(await call("GET", "/dlq?limit=100"))).toEqual([payment.id]);
    const got = await call("GET", path(inventory.id));
    expect({ status: got.status, code: code(got) }).toEqual({ status: 409, code: "DLQ_MALFORMED" });
    expect(JSON.stringify(got.body)).not.toContain("boom");
    expect((await call("POST", `${path(inventory.id)}/archive`)).status).toBe(409);
    expect((await call("DELETE", "/dlq?olderThan=2099-01-01T00:00:00Z")).body).toEqual({
      purged: [payment.id],
    });
    expect((await call("POST", "/dlq/retry", {})).body).toEqual({ retried: [], failed: [] });
    expect(await call("DELETE", path(inventory.id))).toEqual({
      status: 200,
      body: { purged: [inventory.id] },
    });
  });

  it("counts each entry taken out of the index by reason on /metrics", async () => {
    await redis.hset(keys.record(plantedId), "data", "not json", "status", "dead");
    await redis.zadd(keys.index, Date.now(), plantedId);
    await redis.zadd(keys.index, 100, "shipping|ghost|1-0");
    await redis.zadd(keys.index, 1000, inventory.id);
    expect((await call("GET", "/dlq")).status).toBe(200);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    for (const reason of ["malformed", "missing", "redated"])
      expect(metrics).toMatch(
        new RegExp(`ordersaga_dlq_index_entries_skipped_total\\{[^}]*reason="${reason}"[^}]*\\} 1`),
      );
    expect(metrics).not.toContain("not json");
  });

  it("purges by the record's own date, not a forged index score, and sets the score back (F2)", async () => {
    // A service re-dates another group's letter in the shared index (its ACL allows that ZADD).
    await redis.zadd(keys.index, 1000, inventory.id);
    const purge = await call("DELETE", "/dlq?olderThan=2001-01-01T00:00:00Z");
    expect(purge).toEqual({ status: 200, body: { purged: [] } });
    expect((await call("GET", path(inventory.id))).status).toBe(200);
    expect(Number(await redis.zscore(keys.index, inventory.id))).toBe(Date.parse(inventory.deadLetteredAt));
    // A time-filtered listing finds it again where it belongs.
    const byTime = await call("GET", `/dlq?from=${encodeURIComponent(inventory.deadLetteredAt)}`);
    expect(itemIds(byTime)).toEqual([inventory.id]);
  });

  it("drops ghost index entries when a purge or a listing meets them (F2)", async () => {
    for (let i = 0; i < 5; i++) await redis.zadd(keys.index, 100 + i, `shipping|ghost|${i}-0`);
    expect((await call("DELETE", "/dlq?olderThan=1990-01-01T00:00:00Z")).body).toEqual({ purged: [] });
    expect(await redis.zcard(keys.index)).toBe(2);
    await redis.zadd(keys.index, Date.now() + 60_000, "shipping|ghost|9-0");
    expect(itemIds(await call("GET", "/dlq"))).toEqual([inventory.id, payment.id]);
    expect(await redis.zcard(keys.index)).toBe(2);
  });

  it("answers a purged record's 404 with its audit trail (F4)", async () => {
    expect((await call("POST", `${path(payment.id)}/retry`, { detail: "INC-7" })).status).toBe(200);
    expect((await call("DELETE", "/dlq?olderThan=2099-01-01T00:00:00Z")).status).toBe(200);
    const gone = await call("GET", path(payment.id));
    expect(gone.status).toBe(404);
    const error = gone.body.error as {
      code: string;
      details: { audit: { action: string; detail?: string }[] };
    };
    expect(error.code).toBe("DLQ_NOT_FOUND");
    expect(error.details.audit.map((e) => e.action)).toEqual(["retried", "purged"]);
    // Never parked: a plain 404, no trail.
    expect((await call("GET", path("payment|order.placed|9-9"))).body.error).not.toHaveProperty("details");
  });
});
