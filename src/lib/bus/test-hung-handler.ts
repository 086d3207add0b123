// The bus library's own tests: a subscriber whose one handler never settles, over a given transport.
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import type { Transport } from "./transport.js";

/** Starts the subscriber, publishes one message; resolves once its handler runs (and hangs). */
export async function startHungHandler(transport: Transport): Promise<Subscriber<typeof TestEvents>> {
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
  await testPublisher(transport).publish("item.added", { sku: "a", quantity: 1 });
  await handlerStarted;
  return subscriber;
}

/** An unsigned publisher of TestEvents as service "shop". */
export const testPublisher = (transport: Transport) =>
  new Publisher({
    events: TestEvents,
    transport,
    source: { service: "shop", instance: "s-1" },
    signer: null,
  });
