/**
 * Review 2 of issue 10, findings 5 and 6, over real HTTP and a real Redis: `GET /inventory` pages
 * on past an indexed id whose product is gone, and the move of the earlier plain-set index is safe
 * with two instances listing at once while an older instance still adds to that set.
 */
import type { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { legacyProductIndexKey, productIndexKey, productKey } from "./keys.js";
import { type InventoryHarness, startInventoryHarness } from "./service-harness.js";
import { createInventoryService } from "./service.js";

type Page = { products: { productId: string }[]; nextCursor?: string };

/** Every productId `GET /inventory?limit=` lists, following nextCursor; and the pages' sizes. */
async function pageThrough(url: string, limit: number): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1_000; i++) {
    const query = cursor === undefined ? "" : `&cursor=${cursor}`;
    const res = await fetch(`${url}/inventory?limit=${limit}${query}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    ids.push(...page.products.map((p) => p.productId));
    pages.push(page.products.length);
    if (page.nextCursor === undefined) return { ids, pages };
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

/** A product as an older version wrote it: its hash, and its id in the plain-set index. */
async function addLegacy(redis: Redis, ids: readonly string[]): Promise<void> {
  const pipeline = redis.pipeline();
  for (const id of ids) {
    pipeline.hset(productKey(id), {
      id,
      name: id,
      price: 100,
      available: 1,
      reserved: 0,
      committed: 0,
      threshold: 0,
    });
  }
  pipeline.sadd(legacyProductIndexKey(), ...ids);
  await pipeline.exec();
}

const legacyId = (i: number) => `p-${String(i).padStart(6, "0")}`;

describeWithRedis("catalog paging (Redis platform)", (getRedis) => {
  let h: InventoryHarness;
  beforeEach(async () => {
    await getRedis().flush();
    h = await startInventoryHarness(createRedisPlatform({ url: getRedis().url }), { seed: false });
  });
  afterEach(async () => {
    await h.stop();
  });

  it("pages on past ids whose product is gone, in the middle and at the end of a page", async () => {
    for (let i = 1; i <= 7; i++) {
      const body = { productId: `p-0${i}`, name: `P${i}`, price: 100, quantity: 1 };
      expect((await h.http("/inventory", { method: "POST", body })).status).toBe(201);
    }
    // Gone from under the index: p-03 in the middle of the first page of 3, p-06 at the end of the second.
    await getRedis().client().del(productKey("p-03"), productKey("p-06"));
    const { ids, pages } = await pageThrough(h.running.url, 3);
    expect(ids).toEqual(["p-01", "p-02", "p-04", "p-05", "p-07"]);
    expect(pages).toEqual([2, 2, 1]);
  });

  it("moves the earlier plain-set index once, with two instances listing at once and an older writer adding to it", async () => {
    const redis = getRedis().client();
    await addLegacy(
      redis,
      Array.from({ length: 1_500 }, (_, i) => legacyId(i)),
    );
    const platform = createRedisPlatform({ url: getRedis().url });
    let second: RunningService | undefined;
    try {
      second = await startService(createInventoryService({ seed: false }), {
        events: AllEvents,
        platform,
        port: 0,
      });
      const urls = [h.running.url, second.url];
      // An instance of the earlier version keeps adding products to the plain set meanwhile.
      let written = 1_500;
      let listing = true;
      const writer = (async () => {
        while (listing) await addLegacy(redis, [legacyId(written++)]);
      })();
      const listings = await Promise.all(
        urls.flatMap((url) => [1, 2].map(() => fetch(`${url}/inventory?limit=10`))),
      );
      listing = false;
      await writer;
      for (const res of listings) expect(res.status).toBe(200);
      // And after both instances have listed (and moved) once, it still adds one.
      await addLegacy(redis, [legacyId(written++)]);

      const expected = Array.from({ length: written }, (_, i) => legacyId(i));
      for (const url of urls) {
        const { ids } = await pageThrough(url, 500);
        expect(ids).toEqual(expected);
      }
      expect(await redis.zcard(productIndexKey())).toBe(written);
      expect(await redis.exists(legacyProductIndexKey())).toBe(0);
    } finally {
      await second?.stop();
      await platform.close();
    }
  }, 120_000);
});
