/**
 * Signature checks live in the Subscriber, above the transport: the same on every transport.
 * Each transport delivers a signed message to its handler and dead-letters an unsigned one and a
 * wrong-owner one with their reason codes, without running the handler.
 */
import { expect, it } from "vitest";
import { Publisher } from "../bus/publisher.js";
import { Subscriber } from "../bus/subscriber.js";
import { ShopEvents } from "../bus/test-events.js";
import type { Transport } from "../bus/transport.js";
import { MemoryTransport } from "../bus/transports/memory.js";
import { RedisPubSubTransport } from "../bus/transports/redis-pubsub.js";
import { RedisStreamsTransport } from "../bus/transports/redis-streams.js";
import { eventStreamFields, eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { Keyring } from "./keyring.js";
import { createSigner, createVerifier } from "./signing.js";

describeWithRedis("signature checks on every transport", (getRedis) => {
  const transports: Record<string, (d: MemoryDeadLetterStore) => Transport> = {
    memory: (deadLetters) => new MemoryTransport({ deadLetters }),
    "redis-streams": (deadLetters) =>
      new RedisStreamsTransport({ redis: getRedis().client(), deadLetters, blockMs: 100 }),
    "redis-pubsub": (deadLetters) => new RedisPubSubTransport({ redis: getRedis().client(), deadLetters }),
  };

  for (const [kind, make] of Object.entries(transports)) {
    it(`${kind}: handles the owner's signed message, dead-letters unsigned and wrong-owner ones`, async () => {
      const keyring = Keyring.generate(["shop", "audit"]);
      const deadLetters = new MemoryDeadLetterStore();
      const transport = make(deadLetters);
      const group = `g-${kind}-${Date.now()}`;
      const handled: string[] = [];
      const rejected: string[] = [];
      const subscriber = new Subscriber({
        events: ShopEvents,
        transport,
        group,
        consumer: "c1",
        verifier: createVerifier(keyring),
        onRefused: (reason) => void rejected.push(reason),
      }).on("item.added", (payload) => void handled.push(payload.sku));
      await transport.ensureGroups(group, subscriber.topics());
      await subscriber.start();
      const as = (service: string, signed = true) =>
        new Publisher({
          events: ShopEvents,
          transport,
          source: { service, instance: "t" },
          signer: signed ? createSigner(keyring, service) : null,
        });
      await as("shop", false).publish("item.added", { sku: "unsigned", quantity: 1 });
      await as("audit").publish("item.added", { sku: "by-audit", quantity: 1 });
      await as("shop").publish("item.added", { sku: "genuine", quantity: 1 });

      await waitFor(() => handled.length === 1 && rejected.length === 2, 10_000, "all three settled");
      expect(handled).toEqual(["genuine"]);
      const reasons = await waitFor(
        async () => {
          const records = await deadLetters.list({});
          return records.length === 2 ? records.map((r) => r.reason.split(":")[0]).sort() : undefined;
        },
        10_000,
        "two dead letters",
      );
      expect(reasons).toEqual(["SIGNATURE_INVALID", "WRONG_PRODUCER"]);
      expect(rejected.sort()).toEqual(["SIGNATURE_INVALID", "WRONG_PRODUCER"]);
      await subscriber.stop();
      await transport.close();
    }, 30_000);
  }

  it("redis-streams: dead-letters an entry over the envelope size bound before verifying it, without its body, and counts it", async () => {
    // A fresh Redis: the group reads its streams from the start, the other tests' entries included.
    await getRedis().flush();
    const keyring = Keyring.generate(["shop"]);
    const deadLetters = new MemoryDeadLetterStore();
    const redis = getRedis().client();
    const transport = new RedisStreamsTransport({ redis, deadLetters, blockMs: 100 });
    const group = `g-big-${Date.now()}`;
    const handled: string[] = [];
    const rejected: string[] = [];
    const subscriber = new Subscriber({
      events: ShopEvents,
      transport,
      group,
      consumer: "c1",
      verifier: createVerifier(keyring),
      onRefused: (reason) => void rejected.push(reason),
    }).on("item.added", (payload) => void handled.push(payload.sku));
    await transport.ensureGroups(group, subscriber.topics());
    await subscriber.start();
    // 2 MiB, written straight into the stream by someone holding no key (a shop kid, garbage MAC).
    const body = `{"id":"x","payload":"${"x".repeat(2 * 1024 * 1024)}","sig":"shop-1.${"A".repeat(43)}"}`;
    const message = { topic: "item.added", owner: "shop", id: "x", body };
    await redis.xadd(eventStreamKey("shop", "item.added"), "*", ...eventStreamFields(message));
    const shop = new Publisher({
      events: ShopEvents,
      transport,
      source: { service: "shop", instance: "t" },
      signer: createSigner(keyring, "shop"),
    });
    await shop.publish("item.added", { sku: "genuine", quantity: 1 });

    const [record] = await waitFor(
      async () => {
        const records = await deadLetters.list({});
        return records.length === 1 ? records : undefined;
      },
      20_000,
      "the dead letter",
    );
    expect(record!.reason).toMatch(/^MESSAGE_TOO_LARGE: /);
    expect(record!.body).toBe("");
    expect(rejected).toEqual(["MESSAGE_TOO_LARGE"]);
    await waitFor(() => handled.length === 1, 20_000, "the genuine message");
    expect(handled).toEqual(["genuine"]);
    // A publisher refuses to send such an envelope at all.
    await expect(
      shop.publish("item.added", { sku: "y".repeat(1_100_000), quantity: 1 }),
    ).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
    await subscriber.stop();
    await transport.close();
  }, 60_000);
});
