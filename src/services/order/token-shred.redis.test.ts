/**
 * Break-resend F1: the token key's delete at a saga's end failed once (a lost reply, Redis briefly
 * unreachable) and nothing retried it, so the key (crypto-shredding) lived on to its 7-day TTL.
 * Here the order service's Redis user may not DEL token keys until the first delete was refused:
 * the key must still be gone once DEL is allowed again.
 */
import { afterEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { tokenKeyKey } from "../../lib/security/payment-token.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";

describeWithRedis("crypto-shredding when the delete fails", (getRedis) => {
  let platform: Platform | undefined;
  let h: OrderHarness | undefined;
  afterEach(async () => {
    await h?.stop();
    await platform?.close();
    h = platform = undefined;
    await getRedis().client().call("ACL", "DELUSER", "shredtest");
  });

  it("a token key delete that failed is retried until the key is gone", { timeout: 60_000 }, async () => {
    const admin = getRedis().client();
    await getRedis().flush();
    // Everything, but DEL only of keys outside `{p...}` tags (not of `{payment}:tokenkey:*`).
    await admin.call("ACL", "SETUSER", "shredtest", "reset", "on", "nopass", "~*", "&*", "+@all", "-del");
    await admin.call("ACL", "SETUSER", "shredtest", "(+del ~[^{]* ~{[^p]*)");
    await admin.config("RESETSTAT");
    const url = new URL(getRedis().url);
    url.username = "shredtest";
    url.password = "any";
    platform = createRedisPlatform({ url: url.toString() });
    h = await startOrderService(platform);

    const orderId = await h.place();
    await h.waitForStatus(orderId, "delivered", 20_000);
    const refusedDels = async () =>
      Number(/cmdstat_del:.*rejected_calls=(\d+)/.exec((await admin.info("commandstats")) ?? "")?.[1] ?? 0);
    await waitFor(async () => (await refusedDels()) >= 1, 10_000, "the first token key delete to be refused");
    expect(await admin.exists(tokenKeyKey(orderId))).toBe(1);

    await admin.call("ACL", "SETUSER", "shredtest", "+del");
    await waitFor(
      async () => (await admin.exists(tokenKeyKey(orderId))) === 0,
      15_000,
      "the token key to be deleted by a retry",
    );
  });
});
