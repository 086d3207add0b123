/**
 * An operator's DLQ retry of a refund dead-lettered long ago (issue 11 follow-up, finding 2). A
 * refund is must-complete: once its window is spent it waits in the DLQ for an operator, who may
 * retry it days later, past `MARKER_TTL_MS` (7 days). The payment service decides a refund from the
 * order's payment record (kept like the system of record) and refunds at the provider under the key
 * `refund:<orderId>`, so it declares `dedupedBy: "record"`: the replay runs, and runs once in effect
 * however often it is replayed. The age is faked through Redis's own clock (the entry's id), not
 * with sleeps.
 */
import { afterEach, expect, it } from "vitest";
import { childTraceparent, encodeEnvelope } from "../../lib/bus/envelope.js";
import { eventStreamFields, eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { DeadLetterQueue } from "../../lib/dlq/dead-letter-queue.js";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { createSigner } from "../../lib/security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { SimulatedPaymentProvider } from "./provider.js";
import { countingProvider, type Harness, request, start } from "./test-harness.js";

const DAY = 86_400_000;

/** A UUIDv7 message id made at `ms`, as the order service stamped it then. */
function idAt(ms: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-000000000001`;
}

/** The saga's refund command for `orderId`, sent at `at` (ms), signed by the order service. */
function refundCommand(orderId: string, at: number) {
  const body = encodeEnvelope({
    id: idAt(at),
    event: "order.compensation.payment.refund",
    version: 1,
    occurredAt: new Date(at).toISOString(),
    source: { service: "order", instance: "order-1" },
    correlationId: orderId,
    traceparent: childTraceparent(),
    attributes: {},
    payload: { orderId, reason: "saga timed out" },
  });
  const signed = createSigner(getProcessKeyring(), "order").sign(body, "order");
  return { topic: "order.compensation.payment.refund", owner: "order", id: idAt(at), body: signed };
}

describeWithRedis("a refund replayed from the DLQ after the dedupe marks' lifetime", (getRedis) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("runs an operator's retry 8 days later once, and a second retry of it changes nothing", async () => {
    await getRedis().flush();
    const inner = new SimulatedPaymentProvider();
    const { provider, calls } = countingProvider(inner);
    const platform = createRedisPlatform({ url: getRedis().url });
    harness = await start(platform, {
      provider,
      breakerOpenMs: 200,
      mustComplete: { baseDelayMs: 20, maxDelayMs: 200 },
    });
    const h = harness;
    await h.saga.publish("payment.requested", request("o-late", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "o-late").length === 1, 60_000, "the charge");

    // 8 days ago (Redis's clock gave the entry that id) the saga asked for the refund while the
    // provider was down: past its must-complete window at once, it is dead-lettered.
    await inner.ledger.setUnavailableUntil(Date.now() + 3_600_000);
    const [seconds] = await platform.redis!.time();
    const sentAt = Number(seconds) * 1000 - 8 * DAY;
    const command = refundCommand("o-late", sentAt);
    await platform.redis!.xadd(
      eventStreamKey(command.owner, command.topic),
      `${sentAt}-0`,
      ...eventStreamFields(command),
    );
    const [record] = await waitFor(
      async () => {
        const records = await platform.deadLetters.list({ group: "payment" });
        return records.length > 0 ? records : undefined;
      },
      60_000,
      "the refund dead-lettered",
    );
    expect(record!.envelopeId).toBe(command.id);
    expect(calls.refunded).toBe(0);

    // The provider is back; the operator retries the record (as POST /dlq/:id/retry does).
    await inner.ledger.setUnavailableUntil(0);
    const dlq = new DeadLetterQueue({
      store: platform.deadLetters,
      redeliver: (group, message) => platform.transport.redeliver(group, message),
      redeliverOnce: (group, replays) => platform.transport.redeliverOnce!(group, replays),
    });
    await dlq.retry(record!.id, { actor: "ops" });
    await waitFor(() => h.of("payment.refunded", "o-late").length === 1, 60_000, "the refund");
    expect(calls.refunded).toBe(1);
    expect((await inner.ledger.get("refund", "refund:o-late"))?.amount).toBe(4200);

    // Retried again: it runs (answered "already done"), and refunds nothing more.
    await dlq.retry(record!.id, { actor: "ops" });
    await waitFor(
      () => h.of("payment.refund.skipped", "o-late").length === 1,
      60_000,
      "the second replay answered",
    );
    expect(h.of("payment.refund.skipped", "o-late")[0]).toMatchObject({ outcome: "already_done" });
    expect(calls.refunded).toBe(1);
    expect(h.of("payment.refunded", "o-late")).toHaveLength(1);
    // Nothing else was parked: neither replay was refused as too old.
    expect(await platform.deadLetters.list({ group: "payment" })).toHaveLength(1);
  }, 180_000);
});
