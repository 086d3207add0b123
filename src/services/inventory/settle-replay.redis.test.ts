/**
 * A release or commit replayed from the DLQ after the dedupe marks' lifetime (issue 11, leftover 1).
 * Both are must-complete: once their window is spent they wait in the DLQ for an operator, who may
 * retry them days later, past `MARKER_TTL_MS`. They move stock only out of a `reserved` reservation,
 * which is kept for as long as it holds stock; once settled, no replay of any age moves stock again,
 * and a settled reservation whose mark expired is absent, which moves nothing either. So they are
 * decided from the record (`dedupedBy: "record"`): the replay runs (it used to be refused as
 * `TOO_OLD_TO_DEDUPLICATE`), once in effect. Marks live 1.5 s here; replays carry message ids made
 * 8 days ago (the saga's clock then), so the age refused them on any machine.
 */
import { afterEach, expect, it } from "vitest";
import { childTraceparent, encodeEnvelope } from "../../lib/bus/envelope.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { createSigner } from "../../lib/security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { reservationKey } from "./keys.js";
import { type InventoryHarness, startInventoryHarness } from "./service-harness.js";

const DAY = 86_400_000;
const MARKER_TTL_MS = 1_500;

/** A UUIDv7 message id made at `ms`, with a distinct tail. */
function idAt(ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-${n.toString(16).padStart(12, "0")}`;
}

let sequence = 0;

/** A saga command sent 8 days ago (by its message id), signed by the order service. */
function oldCommand(
  event: "order.compensation.inventory.release" | "inventory.commit.requested",
  orderId: string,
) {
  const id = idAt(Date.now() - 8 * DAY, ++sequence);
  const payload =
    event === "inventory.commit.requested" ? { orderId } : { orderId, reason: "payment failed" };
  const body = encodeEnvelope({
    id,
    event,
    version: 1,
    occurredAt: new Date(Date.now() - 8 * DAY).toISOString(),
    source: { service: "order", instance: "order-1" },
    correlationId: orderId,
    traceparent: childTraceparent(),
    attributes: {},
    payload,
  });
  return {
    topic: event,
    owner: "order",
    id,
    body: createSigner(getProcessKeyring(), "order").sign(body, "order"),
  };
}

describeWithRedis("inventory: a release or commit replayed after the marks' lifetime", (getRedis) => {
  let h: InventoryHarness | undefined;
  let platform: Platform | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  async function start() {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url, retention: { markerTtlMs: MARKER_TTL_MS } });
    h = await startInventoryHarness(platform, {
      seed: [{ productId: "p-1", name: "P", price: 100, quantity: 10 }],
    });
    return h;
  }

  const stock = async () => (await h!.http("/inventory/p-1")).body as Record<string, number>;
  const replay = (message: ReturnType<typeof oldCommand>) =>
    platform!.transport.redeliver("inventory", message);
  const handled = (event: string, count: number) =>
    waitFor(async () => (await h!.handled(event)) >= count, 60_000, `${count} × ${event} handled`);
  const expired = (orderId: string) =>
    waitFor(
      async () => (await platform!.redis!.exists(reservationKey(orderId))) === 0,
      60_000,
      `the settled reservation of ${orderId} expired`,
    );

  it("releases a held reservation on an 8-day-old replay, and a replay after the settled mark expired moves nothing", async () => {
    const h = await start();
    await h.order.publish("inventory.reservation.requested", {
      orderId: "o-rel",
      items: [{ productId: "p-1", quantity: 3 }],
    });
    await h.waitForEvents("inventory.reserved");
    expect(await stock()).toMatchObject({ available: 7, reserved: 3, committed: 0 });

    await replay(oldCommand("order.compensation.inventory.release", "o-rel"));
    await waitFor(() => h.payloads("inventory.released").length === 1, 60_000, "the release");
    expect(await stock()).toMatchObject({ available: 10, reserved: 0, committed: 0 });

    // The settled reservation (only a dedupe mark now) expires; replayed again, nothing moves.
    await expired("o-rel");
    await replay(oldCommand("order.compensation.inventory.release", "o-rel"));
    await waitFor(() => h.payloads("inventory.release.skipped").length === 1, 60_000, "the second answer");
    expect(await stock()).toMatchObject({ available: 10, reserved: 0, committed: 0 });
    expect(h.payloads("inventory.released")).toHaveLength(1);
    expect(await platform!.deadLetters.list()).toEqual([]);
  }, 180_000);

  it("commits a held reservation on an 8-day-old replay once, however often it is replayed", async () => {
    const h = await start();
    await h.order.publish("inventory.reservation.requested", {
      orderId: "o-com",
      items: [{ productId: "p-1", quantity: 4 }],
    });
    await h.waitForEvents("inventory.reserved");

    await replay(oldCommand("inventory.commit.requested", "o-com"));
    await waitFor(() => h.payloads("inventory.committed").length === 1, 60_000, "the commit");
    expect(await stock()).toMatchObject({ available: 6, reserved: 0, committed: 4 });

    await replay(oldCommand("inventory.commit.requested", "o-com"));
    await handled("inventory.commit.requested", 2);
    await expired("o-com");
    await replay(oldCommand("inventory.commit.requested", "o-com"));
    // A release of the completed order's stock, replayed late, must not give it back either.
    await replay(oldCommand("order.compensation.inventory.release", "o-com"));
    await handled("inventory.commit.requested", 3);
    await handled("order.compensation.inventory.release", 1);
    expect(await stock()).toMatchObject({ available: 6, reserved: 0, committed: 4 });
    expect(h.payloads("inventory.committed")).toHaveLength(1);
    expect(await platform!.deadLetters.list()).toEqual([]);
  }, 180_000);
});
