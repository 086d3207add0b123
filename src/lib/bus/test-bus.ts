// The bus library's own tests: a publisher and a subscriber of TestEvents over a given transport.
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import type { Transport } from "./transport.js";

/** An unsigned publisher of TestEvents as service "shop". */
export const testPublisher = (transport: Transport) =>
  new Publisher({
    events: TestEvents,
    transport,
    source: { service: "shop", instance: "s-1" },
    signer: null,
  });

/** An unverified subscriber of TestEvents, group "g", consumer "c", no publisher. */
export const testSubscriber = (transport: Transport) =>
  new Subscriber({ events: TestEvents, transport, group: "g", consumer: "c", verifier: null });

/** Starts a subscriber whose one handler never settles, publishes one message; resolves once it runs (and hangs). */
export async function startHungHandler(transport: Transport): Promise<Subscriber<typeof TestEvents>> {
  let started: () => void = () => {};
  const handlerStarted = new Promise<void>((resolve) => (started = resolve));
  const subscriber = testSubscriber(transport).on("item.added", () => {
    started();
    return new Promise<void>(() => {});
  });
  await subscriber.start();
  await testPublisher(transport).publish("item.added", { sku: "a", quantity: 1 });
  await handlerStarted;
  return subscriber;
}
