/**
 * Review 2 of issue 10, finding 1, over real HTTP and a real Redis: the restock limit
 * (MAX_STOCK_LEVEL units per product) is decided on the live stock in the same atomic step as the
 * change, so concurrent restocks near the limit never pass it together; the refused ones get the
 * README's 400 VALIDATION_FAILED naming `quantity`.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { MAX_STOCK_LEVEL } from "../../contracts/index.js";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { CLIENT_HEADER } from "../../lib/http/headers.js";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { type InventoryHarness, startInventoryHarness } from "./service-harness.js";

type Answer = {
  status: number;
  replayed: string | null;
  body: { available?: number; error?: { code: string; details?: { path: string; message: string }[] } };
};

describeWithRedis("restock limit under concurrency (Redis platform)", (getRedis) => {
  let h: InventoryHarness;
  beforeEach(async () => {
    await getRedis().flush();
    h = await startInventoryHarness(createRedisPlatform({ url: getRedis().url }), { seed: false });
  });
  afterEach(async () => {
    await h.stop();
  });

  const restock = async (productId: string, quantity: number, key?: string): Promise<Answer> => {
    const response = await fetch(`${h.running.url}/inventory/${productId}/restock`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [CLIENT_HEADER]: "ops",
        ...(key === undefined ? {} : { "idempotency-key": key }),
      },
      body: JSON.stringify({ quantity }),
    });
    return {
      status: response.status,
      replayed: response.headers.get("idempotent-replayed"),
      body: (await response.json()) as Answer["body"],
    };
  };

  it("lets concurrent restocks near MAX_STOCK_LEVEL fill it and never pass it; the rest get 400 on quantity", async () => {
    const start = MAX_STOCK_LEVEL - 35; // room for 3 restocks of 10, not 4
    const added = await h.http("/inventory", {
      method: "POST",
      body: { productId: "prod-cap", name: "Capped", price: 100, quantity: start, lowStockThreshold: 1 },
    });
    expect(added.status).toBe(201);

    // 20 at once, half of them with an Idempotency-Key (the keyed path has its own script).
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => restock("prod-cap", 10, i % 2 === 0 ? `cap-${i}` : undefined)),
    );
    const applied = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    expect(applied).toHaveLength(3);
    expect(refused).toHaveLength(17);
    for (const answer of refused) {
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe("VALIDATION_FAILED");
      expect(answer.body.error?.details).toEqual([
        { path: "quantity", message: `must be at most 5: a product holds at most ${MAX_STOCK_LEVEL}` },
      ]);
    }
    const product = (await h.http("/inventory/prod-cap")).body as { available: number };
    expect(product.available).toBe(start + 30);
    expect(product.available).toBeLessThanOrEqual(MAX_STOCK_LEVEL);
    // One event per applied restock, none for a refused one.
    const events = await getRedis().client().xlen(eventStreamKey("inventory", "inventory.restocked"));
    expect(events).toBe(3);
  });

  it("answers a keyed replay after the limit is reached, and replays a refused key's 400 when resent", async () => {
    const start = MAX_STOCK_LEVEL - 10;
    const body = { productId: "prod-cap", name: "Capped", price: 100, quantity: start, lowStockThreshold: 1 };
    expect((await h.http("/inventory", { method: "POST", body })).status).toBe(201);
    expect(await restock("prod-cap", 10, "fill")).toMatchObject({ status: 200, replayed: null });
    // Full now: the replay of the applied key still answers 200 (it changes nothing) ...
    expect(await restock("prod-cap", 10, "fill")).toMatchObject({
      status: 200,
      replayed: "true",
      body: { available: MAX_STOCK_LEVEL },
    });
    // ... a new key is refused, and the refusal is saved under it: resent, the same 400, replayed.
    const refusal = {
      status: 400,
      body: {
        error: {
          code: "VALIDATION_FAILED",
          details: [
            { path: "quantity", message: `must be at most 0: a product holds at most ${MAX_STOCK_LEVEL}` },
          ],
        },
      },
    };
    expect(await restock("prod-cap", 1, "one-more")).toMatchObject({ ...refusal, replayed: null });
    expect(await restock("prod-cap", 1, "one-more")).toMatchObject({ ...refusal, replayed: "true" });
    expect(await getRedis().client().xlen(eventStreamKey("inventory", "inventory.restocked"))).toBe(1);
  });

  // Break10 F1 repro B over HTTP: a keyed restock answered 404, the product added, then a late copy
  // of the same request (the gateway's timed-out first attempt) must not restock.
  it("replays a keyed restock's 404 to a late copy sent after the product was added", async () => {
    expect(await restock("prod-late", 5, "early")).toMatchObject({ status: 404, replayed: null });
    const body = { productId: "prod-late", name: "Late", price: 100, quantity: 100, lowStockThreshold: 1 };
    expect((await h.http("/inventory", { method: "POST", body })).status).toBe(201);
    expect(await restock("prod-late", 5, "early")).toMatchObject({
      status: 404,
      replayed: "true",
      body: { error: { code: "NOT_FOUND" } },
    });
    expect((await h.http("/inventory/prod-late")).body).toMatchObject({ available: 100 });
    expect(await getRedis().client().xlen(eventStreamKey("inventory", "inventory.restocked"))).toBe(0);
  });
});
