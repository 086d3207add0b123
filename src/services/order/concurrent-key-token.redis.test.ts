/**
 * Break-gateway F4: concurrent `POST /orders` with the same Idempotency-Key and body. Every request
 * that found the key claimed but the order not yet appended sealed the payment token again (one more
 * entry in `{payment}:tokenkey:<id>`), though only one of them appends the order; and a request
 * whose seal landed after the order ended and its key was shredded re-created the key, so token
 * material outlived crypto-shredding (issue 12 item 1) until its 7-day TTL.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { tokenKeyKey } from "../../lib/security/payment-token.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisOrderStores } from "./redis-store.js";
import type { OrderStores } from "./store.js";
import { type OrderHarness, orderBody, startOrderService } from "./test-harness.js";

const REQUESTS = 6;

/** Resolves every waiter once `count` have arrived: the requests' claims all land before any append. */
function barrier(count: number) {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    if (++arrived >= count) open();
    await opened;
  };
}

describeWithRedis(
  "concurrent POST /orders with one Idempotency-Key and the payment token key",
  (getRedis) => {
    let platform: Platform;
    let h: OrderHarness | undefined;
    /** The order id the key's claim holds (every request reads the same one). */
    let claimed: string | undefined;
    let release: () => void = () => {};

    beforeEach(async () => {
      await getRedis().flush();
      platform = createRedisPlatform({ url: getRedis().url });
    });

    afterEach(async () => {
      release();
      claimed = undefined;
      await h?.stop();
      h = undefined;
      await platform.close();
    });

    /**
     * The order stores over real Redis, with every claim held until all requests claimed, and (when
     * `versionsHeld` is given) each version read answered only once it resolves: the read runs at
     * once, its answer arrives late, as under load.
     */
    function storesWith(versionsHeld?: Promise<void>) {
      return (deps: { platform: Platform; now: () => number }): OrderStores => {
        const stores = createRedisOrderStores({ redis: deps.platform.redis!, now: deps.now });
        const allClaimed = barrier(REQUESTS);
        const claim = stores.idempotency.claim.bind(stores.idempotency);
        stores.idempotency.claim = async (...args) => {
          const result = await claim(...args);
          claimed = result.record.orderId;
          await allClaimed();
          return result;
        };
        const version = stores.events.version.bind(stores.events);
        stores.events.version = async (streamId) => {
          const read = await version(streamId);
          await versionsHeld;
          return read;
        };
        return stores;
      };
    }

    const post = (body: unknown, key: string) =>
      fetch(`${h!.running.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as { orderId: string } }));

    it("leaves exactly one sealed token entry, that of the request that created the order", async () => {
      h = await startOrderService(platform, { stores: storesWith() });
      const body = orderBody();
      const key = `same-${Date.now()}`;
      const answers = await Promise.all(Array.from({ length: REQUESTS }, () => post(body, key)));

      expect(answers.map((a) => a.status)).toEqual(Array(REQUESTS).fill(202));
      const orderId = answers[0]!.body.orderId;
      expect(new Set(answers.map((a) => a.body.orderId))).toEqual(new Set([orderId]));
      expect(await getRedis().client().hlen(tokenKeyKey(orderId))).toBe(1);
      // The one entry opens the token the order holds: the saga charges and delivers it.
      await h.waitForStatus(orderId, "delivered", 60_000);
    }, 120_000);

    it("writes no token entry after the order ended and its key was shredded", async () => {
      const versionsHeld = new Promise<void>((resolve) => (release = resolve));
      h = await startOrderService(platform, { stores: storesWith(versionsHeld) });
      const body = orderBody();
      const key = `late-${Date.now()}`;
      const answers = Promise.all(Array.from({ length: REQUESTS }, () => post(body, key)));

      const redis = getRedis().client();
      const orderId = await waitFor(() => claimed, 30_000, "the key claimed");
      await h.waitForStatus(orderId, "delivered", 60_000);
      await waitFor(
        async () => (await redis.exists(tokenKeyKey(orderId))) === 0,
        30_000,
        "token key shredded",
      );
      // The other requests read version 0 before the append; their answers arrive only now.
      release();

      const settled = await answers;
      expect(settled.map((a) => a.status)).toEqual(Array(REQUESTS).fill(202));
      expect(new Set(settled.map((a) => a.body.orderId))).toEqual(new Set([orderId]));
      expect(await redis.exists(tokenKeyKey(orderId))).toBe(0);
    }, 120_000);
  },
);
