/**
 * A program as the README's shutdown order has it, over the in-memory transport, whose one handler
 * never settles: `subscriber.stop({ timeoutMs })`, then `transport.close()`. Prints each step; run
 * by subscriber-stop.test.ts (newuser21 F7: the process exited with code 13 before stop answered).
 */
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";

const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
let started: () => void = () => {};
const handlerStarted = new Promise<void>((resolve) => (started = resolve));
const subscriber = new Subscriber({
  events: TestEvents,
  transport,
  group: "g",
  consumer: "c",
  verifier: null,
}).on("item.added", () => {
  started();
  return new Promise<void>(() => {});
});
await subscriber.start();
const publisher = new Publisher({
  events: TestEvents,
  transport,
  source: { service: "shop", instance: "s-1" },
  signer: null,
});
await publisher.publish("item.added", { sku: "a", quantity: 1 });
await handlerStarted;
await subscriber.stop({ timeoutMs: 300 });
console.log("stopped");
await transport.close();
console.log("closed");
