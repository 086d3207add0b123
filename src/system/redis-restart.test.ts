/**
 * DESIGN §1: once the gateway answered 2xx for an order, the order reaches a terminal state even if
 * Redis restarts. Redis here runs with AOF (fsync always), as production should (everysec loses at
 * most about a second on a machine crash, not on a Redis restart).
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { describeWithRedis } from "../test-support/redis.js";
import { sleep, waitFor } from "../test-support/wait.js";
import { startEmbeddedSystem } from "./embedded.js";

describeWithRedis("orders across a Redis restart", (getRedis) => {
  it("every accepted order still completes", async ({ skip }) => {
    const redis = getRedis();
    // An external REDIS_URL cannot be restarted by the test: reported as skipped, not as passed.
    if (!redis.owned) skip();
    const system = await startEmbeddedSystem({
      platform: createRedisPlatform({ url: redis.url }),
      gatewayPort: 0,
      logLevel: "silent",
    });
    try {
      const api = createApiClient(system.gatewayUrl);
      const user = await api.post<{ id: string }>("/users", {
        email: `r-${randomUUID()}@example.com`,
        name: "Restart",
      });
      const productId = `prod-${randomUUID().slice(0, 8)}`;
      await api.post("/inventory", { productId, name: "restart", price: 100, quantity: 1_000 });
      const accepted: string[] = [];
      const place = async () => {
        const res = await api.post<{ orderId: string }>("/orders", {
          userId: user.body.id,
          items: [{ productId, quantity: 1 }],
          payment: { token: "tok_ok" },
        });
        if (res.status === 202) accepted.push(res.body.orderId);
      };
      await Promise.all(Array.from({ length: 20 }, place));
      await redis.restart();
      await sleep(200);
      for (let i = 0; i < 10; i++) await place().catch(() => {}); // some may fail while Redis is back up
      expect(accepted.length).toBeGreaterThanOrEqual(20);
      const final = await Promise.all(
        accepted.map((id) =>
          waitFor(
            async () => {
              const res = await api.get<{ status: string }>(`/orders/${id}`);
              return ["shipped", "delivered", "failed", "cancelled"].includes(res.body?.status)
                ? res.body.status
                : undefined;
            },
            60_000,
            `order ${id} terminal`,
            200,
          ),
        ),
      );
      // Nothing was lost or left pending: every accepted order completes, none times out.
      expect(final.filter((s) => s !== "shipped" && s !== "delivered")).toEqual([]);
      const stock = (
        await api.get<{ available: number; reserved: number; committed: number }>(`/inventory/${productId}`)
      ).body;
      expect(stock.available + stock.reserved + stock.committed).toBe(1_000);
    } finally {
      await system.stop();
    }
  }, 120_000);
});
