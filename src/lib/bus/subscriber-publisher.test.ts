/** newuser21 F1: `ctx.publish` in a Subscriber made without a `publisher`. */
import { expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { waitFor } from "../../test-support/wait.js";
import { testPublisher, testSubscriber } from "./test-bus.js";
import { MemoryTransport } from "./transports/memory.js";

it("a handler's ctx.publish without a publisher dead-letters the message at once as PUBLISHER_MISSING, not after three attempts", async () => {
  const deadLetters = new MemoryDeadLetterStore();
  const transport = new MemoryTransport({ deadLetters });
  let attempts = 0;
  const subscriber = testSubscriber(transport).on("item.added", async (payload, ctx) => {
    attempts++;
    await ctx.publish("item.removed", { sku: payload.sku });
  });
  await subscriber.start();
  await testPublisher(transport).publish("item.added", { sku: "a", quantity: 1 });
  await waitFor(async () => (await deadLetters.list({ group: "g" })).length > 0, 5_000, "the dead letter");
  const [record] = await deadLetters.list({ group: "g" });
  expect(record?.reason).toMatch(/^not retryable: .*pass `publisher` to new Subscriber/);
  expect(record?.attempts.map((a) => a.error.code)).toEqual(["PUBLISHER_MISSING"]);
  expect(attempts).toBe(1);
  await subscriber.stop();
  await transport.close();
});
