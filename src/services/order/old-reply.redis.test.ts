/**
 * A saga reply older than the dedupe marks' lifetime (break-late F4): the saga decides replies from the
 * order's own history, so it takes them at any age (`dedupedBy: "record"`). Before, a reply dated
 * past `MARKER_TTL_MS` was refused as TOO_OLD_TO_DEDUPLICATE on its first delivery and on every DLQ
 * retry, so a cancelled order whose refund and release had both happened stayed `compensation_failed`.
 * Marks live 1.5 s here; the reply carries a message id made 8 days ago.
 */
import { afterEach, expect, it } from "vitest";
import { childTraceparent, encodeEnvelope } from "../../lib/bus/envelope.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { createSigner } from "../../lib/security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";

const DAY = 86_400_000;

/** A UUIDv7 message id made at `ms`. */
function idAt(ms: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-000000000001`;
}

describeWithRedis("order saga: a reply older than the marks' lifetime", (getRedis) => {
  let h: OrderHarness | undefined;
  let platform: Platform | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it("is taken from the order's history, not refused as too old", async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url, retention: { markerTtlMs: 1_500 } });
    h = await startOrderService(platform, {}, { user: "silent" });
    const orderId = await h.place();
    const id = idAt(Date.now() - 8 * DAY);
    const body = encodeEnvelope({
      id,
      event: "user.validated",
      version: 1,
      occurredAt: new Date(Date.now() - 8 * DAY).toISOString(),
      source: { service: "user", instance: "user-1" },
      correlationId: orderId,
      traceparent: childTraceparent(),
      attributes: {},
      payload: { orderId, userId: "u-1", valid: true },
    });
    await platform.transport.redeliver("order", {
      topic: "user.validated",
      owner: "user",
      id,
      body: createSigner(getProcessKeyring(), "user").sign(body, "user"),
    });
    await h.waitForStatus(orderId, "delivered", 30_000);
    expect(await platform.deadLetters.list()).toEqual([]);
  }, 60_000);
});
