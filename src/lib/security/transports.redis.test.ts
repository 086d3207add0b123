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
        onRejected: (_event, code) => void rejected.push(code),
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
});
