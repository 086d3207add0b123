/**
 * The orphan-charge pass across payment instances whose host clocks differ by more than the grace
 * (break19 F1, DESIGN §6 "do not compare clocks across machines"): charges are dated, and the pass's
 * now − grace computed, on the shared clock (Redis `TIME`), so a host 60 s ahead voids no fresh
 * charge, and a charge made by a host 60 s behind is not dated below the position the other
 * instances' passes keep. Each instance's own clock is injected (`startService`'s `now`).
 */
import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { orphanScanCursorKey, paymentIndexKey, paymentKey } from "./keys.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";
import { RedisPaymentStore } from "./redis-store.js";
import { type Harness, request, start } from "./test-harness.js";
import type { PaymentServiceOptions } from "./service.js";

const SKEW_MS = 60_000;

describeWithRedis("orphan charges across payment instances whose clocks differ (break19 F1)", (getRedis) => {
  const running: Harness[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((h) => h.stop()));
  });
  const launch = async (options: PaymentServiceOptions, skewMs = 0) => {
    const h = await start(
      createRedisPlatform({ url: getRedis().url }),
      { mustComplete: { baseDelayMs: 20, maxDelayMs: 500 }, ...options },
      skewMs === 0 ? {} : { now: () => Date.now() + skewMs },
    );
    running.push(h);
    return h;
  };
  const stop = async (h: Harness) => {
    running.splice(running.indexOf(h), 1);
    await h.stop();
  };
  const passes = (graceMs: number) => ({
    orphanGraceMs: graceMs,
    orphanScanIntervalMs: 100,
    orphanScanFirstDelayMs: 10,
  });
  const cursorSet = () => waitFor(() => getRedis().client().get(orphanScanCursorKey()), 5_000, "a pass");

  it("a charge whose answer is late is not voided by an instance whose clock is ahead by more than the grace; the order is paid", async () => {
    await getRedis().flush();
    const graceMs = 20_000;
    // The correct instance takes the request and runs no passes; tok_late answers after 2.5 s, so
    // the charge sits at the provider with no record meanwhile, like any charge in flight.
    const correct = await launch({ orphanGraceMs: graceMs, orphanScanIntervalMs: 0 });
    const orderId = randomUUID();
    await correct.saga.publish("payment.requested", request(orderId, "tok_late"));
    const ledger = new RedisProviderLedger(getRedis().client());
    await waitFor(() => ledger.get("charge", orderId), 5_000, "the charge at the provider");
    const ahead = await launch(passes(graceMs), SKEW_MS);
    await cursorSet();
    // The pass ran while the charge had no record (tok_late's answer is 2.5 s late): the case.
    expect(correct.of("payment.processed", orderId)).toEqual([]);
    await waitFor(() => correct.of("payment.processed", orderId).length === 1, 10_000, "payment.processed");
    expect((await new RedisPaymentStore(getRedis().client()).get(orderId))?.status).toBe("captured");
    expect((await ledger.get("charge", orderId))?.status).toBe("approved");
    expect([...correct.logs, ...ahead.logs].join("\n")).not.toContain("orphan charge");
  });

  it("an orphan charged by an instance whose clock is behind by more than the grace is found by the others", async () => {
    await getRedis().flush();
    const graceMs = 3_000;
    // The others' passes have reached now − grace.
    const first = await launch(passes(graceMs));
    await cursorSet();
    await stop(first);
    // The instance behind charges (and runs no passes of its own) ...
    const behind = await launch({ orphanGraceMs: graceMs, orphanScanIntervalMs: 0 }, -SKEW_MS);
    const orderId = randomUUID();
    await behind.saga.publish("payment.requested", request(orderId, "tok_ok"));
    await waitFor(() => behind.of("payment.processed", orderId).length === 1, 5_000, "payment.processed");
    await stop(behind);
    // ... and the order is lost with Redis's last writes: its record with it.
    const redis = getRedis().client();
    await redis.multi().del(paymentKey(orderId)).srem(paymentIndexKey(), orderId).exec();
    const other = await launch(passes(graceMs));
    const store = new RedisPaymentStore(redis);
    const record = await waitFor(
      async () => {
        const found = await store.get(orderId);
        return found?.status === "voided" && found.refundId ? found : undefined;
      },
      graceMs + 5_000,
      "the orphan voided and given back",
    );
    expect(record.status).toBe("voided");
    expect(other.logs.join("\n")).toContain("orphan charge (no payment record past the grace period)");
  });
});
