/**
 * Break10 F5: a replay of `POST /orders` (same Idempotency-Key and body) after the order ended must
 * not write its payment token key again: each replay used to seal the token first (a new field in
 * `{payment}:tokenkey:<id>` and a fresh TTL), re-creating the key of a shredded order and growing it
 * for as long as a client kept replaying.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { tokenKeyKey } from "../../lib/security/payment-token.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, orderBody, startOrderService } from "./test-harness.js";

describeWithRedis("replays of POST /orders and the payment token key", (getRedis) => {
  let platform: Platform;
  let h: OrderHarness | undefined;

  beforeEach(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
  });

  afterEach(async () => {
    await h?.stop();
    h = undefined;
    await platform.close();
  });

  it("a replay of an ended order leaves its shredded token key absent, however many replays", async () => {
    h = await startOrderService(platform);
    const body = orderBody();
    const headers = { "idempotency-key": `replay-${Date.now()}` };
    const orderId = await h.place(body, headers);
    await h.waitForStatus(orderId, "delivered", 60_000);
    const redis = getRedis().client();
    await waitFor(async () => (await redis.exists(tokenKeyKey(orderId))) === 0, 30_000, "token key shredded");

    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${h.running.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(202);
      expect(res.headers.get("idempotent-replayed")).toBe("true");
      expect(((await res.json()) as { orderId: string }).orderId).toBe(orderId);
    }
    expect(await redis.exists(tokenKeyKey(orderId))).toBe(0);
  }, 120_000);
});
