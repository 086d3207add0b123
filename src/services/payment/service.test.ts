import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryPlatform, createRedisPlatform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import { tokenKeyStoreOf, tokenSealerFromEnv } from "../../lib/security/payment-token.js";
import type { PaymentServiceOptions } from "./service.js";
import { countingProvider, type Harness, refund, request, start } from "./test-harness.js";

/** Lets duplicates that should change nothing reach the handler before asserting that they did not. */
const settle = () => sleep(150);

describe("payment service (memory platform)", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  const launch = async (options: PaymentServiceOptions = {}) => {
    harness = await start(createMemoryPlatform(), options);
    return harness;
  };

  it("charges tok_ok once even when the request arrives twice, and serves the record without the token", async () => {
    const { provider, calls } = countingProvider();
    const h = await launch({ provider });
    await h.saga.publish("payment.requested", request("o-1", "tok_ok"));
    await h.saga.publish("payment.requested", request("o-1", "tok_ok"));
    const [processed] = await waitFor(() =>
      h.of("payment.processed", "o-1").length ? h.of("payment.processed", "o-1") : null,
    );
    await settle();
    expect(h.of("payment.processed", "o-1")).toHaveLength(1);
    expect(calls.charged).toBe(1);
    const response = await fetch(`${h.running.url}/payments/o-1`);
    const record = (await response.json()) as Record<string, unknown>;
    expect(processed?.paymentId).toBeDefined();
    expect(record).toEqual({
      orderId: "o-1",
      status: "captured",
      amount: 4200,
      currency: "USD",
      refundedAmount: 0,
      attempts: 1,
      updatedAt: expect.any(String),
      provider: { charged: 4200, refunded: 0 },
    });
    expect(JSON.stringify(record)).not.toMatch(/tok_|fp_/);
    expect(h.logs.join("\n")).not.toContain("tok_");
    expect((await fetch(`${h.running.url}/payments/nope`)).status).toBe(404);
    expect((await fetch(`${h.running.url}/payments/has%20space`)).status).toBe(400);
  });

  it("charges nothing for a token whose order key was shredded (the saga ended first): waits for the saga's refund, then acks without a dead letter", async () => {
    const { provider, calls } = countingProvider();
    const h = await launch({ provider, mustComplete: { baseDelayMs: 20, maxDelayMs: 100 } });
    const sealer = tokenSealerFromEnv(tokenKeyStoreOf(h.platform));
    const sealed = await sealer.seal("o-shred", "tok_ok__shredded1");
    await sealer.shred("o-shred");
    await h.saga.publish("payment.requested", request("o-shred", sealed));
    // The saga's end has not reached payment yet: the request waits instead of being dead-lettered.
    await waitFor(() => h.logs.some((l) => l.includes("PAYMENT_TOKEN_KEY_GONE")) || null, 10_000, "a retry");
    await h.saga.publish("order.compensation.payment.refund", refund("o-shred"));
    // Its redelivery finds the order voided (nothing charged) and is handled: acked.
    const handled = (l: string) => l.includes('"event":"payment.requested"') && l.includes("event handled");
    await waitFor(() => h.logs.some(handled) || null, 10_000, "the request acked");
    const [skipped] = await waitFor(() => {
      const answers = h.of("payment.refund.skipped", "o-shred");
      return answers.length ? answers : null;
    });
    expect(skipped).toMatchObject({ outcome: "nothing_to_undo" });
    expect(await h.platform.deadLetters.list({ group: "payment" })).toEqual([]);
    expect(calls.charge).toBe(0);
    expect(h.of("payment.processed", "o-shred")).toEqual([]);
  });

  it("reports a decline as a permanent failure and records it", async () => {
    const h = await launch();
    await h.saga.publish("payment.requested", request("o-2", "tok_decline"));
    const [failed] = await waitFor(() =>
      h.of("payment.failed", "o-2").length ? h.of("payment.failed", "o-2") : null,
    );
    expect(failed).toMatchObject({ code: "declined", transient: false, attempt: 1 });
    const record = (await (await fetch(`${h.running.url}/payments/o-2`)).json()) as { status: string };
    expect(record.status).toBe("declined");
  });

  it("reports a transient failure once per attempt and charges tok_flaky on the next attempt", async () => {
    const h = await launch();
    await h.saga.publish("payment.requested", request("o-3", "tok_flaky", 1));
    await h.saga.publish("payment.requested", request("o-3", "tok_flaky", 1));
    await waitFor(() => h.of("payment.failed", "o-3").length === 1);
    await settle();
    expect(h.of("payment.failed", "o-3")).toEqual([
      expect.objectContaining({ code: "provider_error", transient: true, attempt: 1 }),
    ]);
    await h.saga.publish("payment.requested", request("o-3", "tok_flaky", 2));
    await waitFor(() => h.of("payment.processed", "o-3").length === 1);
  });

  it("gives up on a provider that does not answer within the timeout", async () => {
    const h = await launch({ timeoutMs: 30 });
    await h.saga.publish("payment.requested", request("o-4", "tok_timeout"));
    const [failed] = await waitFor(() =>
      h.of("payment.failed", "o-4").length ? h.of("payment.failed", "o-4") : null,
    );
    expect(failed).toMatchObject({ code: "timeout", transient: true });
  });

  it("voids an order refunded before its request, so the late request charges nothing", async () => {
    const { provider, calls } = countingProvider();
    const h = await launch({ provider });
    await h.saga.publish("order.compensation.payment.refund", refund("o-6"));
    await waitFor(async () => (await fetch(`${h.running.url}/payments/o-6`)).status === 200);
    await h.saga.publish("payment.requested", request("o-6", "tok_ok"));
    await settle();
    expect(calls.charge).toBe(0);
    // The only answer is the compensation's: nothing was charged, so nothing to undo.
    expect(h.events.filter((e) => e.payload.orderId === "o-6")).toEqual([
      { event: "payment.refund.skipped", payload: expect.objectContaining({ outcome: "nothing_to_undo" }) },
    ]);
    const record = (await (await fetch(`${h.running.url}/payments/o-6`)).json()) as { status: string };
    expect(record.status).toBe("voided");
  });

  it("refunds a captured payment once even when the compensation arrives twice", async () => {
    const { provider, calls } = countingProvider();
    const h = await launch({ provider });
    await h.saga.publish("payment.requested", request("o-7", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "o-7").length === 1);
    await h.saga.publish("order.compensation.payment.refund", refund("o-7"));
    await h.saga.publish("order.compensation.payment.refund", refund("o-7"));
    const [refunded] = await waitFor(() =>
      h.of("payment.refunded", "o-7").length ? h.of("payment.refunded", "o-7") : null,
    );
    await settle();
    expect(h.of("payment.refund.requested", "o-7")).toHaveLength(1);
    expect(h.of("payment.refunded", "o-7")).toHaveLength(1);
    expect(calls.refunded).toBe(1);
    expect(refunded).toMatchObject({ amount: 4200, currency: "USD" });
    const record = (await (await fetch(`${h.running.url}/payments/o-7`)).json()) as Record<string, unknown>;
    expect(refunded?.refundId).toBeDefined();
    expect(record).toMatchObject({
      status: "refunded",
      refundedAmount: 4200,
      provider: { charged: 4200, refunded: 4200 },
    });
  });
});

/** Every value stored in Redis, as text, keyed by key name. */
async function dumpRedis(redis: Redis): Promise<Map<string, string>> {
  const dump = new Map<string, string>();
  for (const key of await redis.keys("*")) {
    const type = await redis.type(key);
    const value =
      type === "string"
        ? await redis.get(key)
        : type === "hash"
          ? await redis.hgetall(key)
          : type === "stream"
            ? await redis.xrange(key, "-", "+")
            : type === "zset"
              ? await redis.zrange(key, 0, -1)
              : type === "set"
                ? await redis.smembers(key)
                : await redis.lrange(key, 0, -1);
    dump.set(key, JSON.stringify(value));
  }
  return dump;
}

describeWithRedis("payment service (Redis platform)", (getRedis) => {
  it("charges, refunds once, and stores no token anywhere but the saga's command stream", async () => {
    const h = await start(createRedisPlatform({ url: getRedis().url }));
    try {
      await h.saga.publish("payment.requested", request("r-1", "tok_ok"));
      await h.saga.publish("payment.requested", request("r-1", "tok_ok"));
      await waitFor(() => h.of("payment.processed", "r-1").length === 1, 10_000);
      await h.saga.publish("order.compensation.payment.refund", refund("r-1"));
      await h.saga.publish("order.compensation.payment.refund", refund("r-1"));
      await waitFor(() => h.of("payment.refunded", "r-1").length === 1, 10_000);
      await settle();
      expect(h.of("payment.processed", "r-1")).toHaveLength(1);
      expect(h.of("payment.refund.requested", "r-1")).toHaveLength(1);
      const record = (await (await fetch(`${h.running.url}/payments/r-1`)).json()) as { status: string };
      expect(record.status).toBe("refunded");
      const dump = await dumpRedis(getRedis().client());
      expect([...dump.keys()].some((k) => k.startsWith("{payment}:provider:charge:"))).toBe(true);
      // The command itself carries the token by contract (owned by order); nothing else may.
      const leaks = [...dump].filter(
        ([key, value]) => value.includes("tok_") && !key.startsWith("{order}:ev:payment.requested"),
      );
      expect(leaks).toEqual([]);
      expect(h.logs.join("\n")).not.toContain("tok_");
    } finally {
      await h.stop();
    }
  });
});
