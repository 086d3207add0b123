/**
 * Issue 12: once an order's saga has ended, its payment token must not be recoverable by anyone.
 * The token key used to be deleted fire-and-forget after the terminal append, so an order instance
 * that died (or stopped while retrying) before the delete left the key to its 7-day TTL. Now the
 * terminal append writes a shred intent in the same atomic step, and the shred sweeper of any
 * instance finishes it. Here the first instance's Redis user may not DEL token keys (its delete
 * fails, as a kill -9 before the DEL leaves it undone), it is stopped, and a new instance starts.
 */
import { afterEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { tokenKeyKey } from "../../lib/security/payment-token.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { shredIntentsKey } from "./keys.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";

describeWithRedis("durable shred intent", (getRedis) => {
  const platforms: Platform[] = [];
  const harnesses: OrderHarness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
    for (const p of platforms.splice(0)) await p.close();
    await getRedis().client().call("ACL", "DELUSER", "shredintent");
  });

  const refusedDels = async () =>
    Number(
      /cmdstat_del:.*rejected_calls=(\d+)/.exec(
        (await getRedis().client().info("commandstats")) ?? "",
      )?.[1] ?? 0,
    );

  it(
    "a saga that ended while its instance could not delete the token key is shredded by a new instance",
    { timeout: 90_000 },
    async () => {
      const admin = getRedis().client();
      await getRedis().flush();
      // Everything, but DEL only of keys outside `{p...}` tags (not of `{payment}:tokenkey:*`).
      await admin.call("ACL", "SETUSER", "shredintent", "reset", "on", "nopass", "~*", "&*", "+@all", "-del");
      await admin.call("ACL", "SETUSER", "shredintent", "(+del ~[^{]* ~{[^p]*)");
      await admin.config("RESETSTAT");
      const url = new URL(getRedis().url);
      url.username = "shredintent";
      url.password = "any";
      const crashing = createRedisPlatform({ url: url.toString() });
      platforms.push(crashing);
      const first = await startOrderService(crashing, { shredGraceMs: 0, shredSweepIntervalMs: 50 });
      harnesses.push(first);

      const orderId = await first.place();
      await first.waitForStatus(orderId, "delivered", 20_000);
      // The fast path's delete and at least one sweeper pass were refused: the intent is kept.
      await waitFor(async () => (await refusedDels()) >= 3, 20_000, "token key deletes to be refused");
      expect(await admin.exists(tokenKeyKey(orderId))).toBe(1);
      expect(await admin.zscore(shredIntentsKey(), orderId)).not.toBeNull();

      // The instance goes away with its shred undone (its retries are aborted at stop).
      await harnesses.pop()?.stop();
      await platforms.pop()?.close();
      expect(await admin.exists(tokenKeyKey(orderId))).toBe(1);

      await admin.call("ACL", "SETUSER", "shredintent", "+del");
      const restarted = createRedisPlatform({ url: url.toString() });
      platforms.push(restarted);
      harnesses.push(await startOrderService(restarted, { shredGraceMs: 0, shredSweepIntervalMs: 50 }));
      await waitFor(
        async () => (await admin.exists(tokenKeyKey(orderId))) === 0,
        15_000,
        "the new instance to delete the token key the stopped one left",
      );
      await waitFor(
        async () => (await admin.zscore(shredIntentsKey(), orderId)) === null,
        15_000,
        "the intent to be removed once the key was deleted",
      );
    },
  );

  it(
    "an order that ends normally leaves no intent behind (the fast path removes it)",
    { timeout: 60_000 },
    async () => {
      await getRedis().flush();
      const platform = createRedisPlatform({ url: getRedis().url });
      platforms.push(platform);
      // The default grace (60 s): the sweeper does not take the intent within this test.
      const h = await startOrderService(platform);
      harnesses.push(h);
      const orderId = await h.place();
      await h.waitForStatus(orderId, "delivered", 20_000);
      const admin = getRedis().client();
      await waitFor(
        async () => (await admin.exists(tokenKeyKey(orderId))) === 0,
        15_000,
        "the token key to go",
      );
      await waitFor(
        async () => (await admin.zcard(shredIntentsKey())) === 0,
        15_000,
        "the intent to be removed",
      );
    },
  );
});
