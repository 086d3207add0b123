/** Test helpers of the services' tests: observe what a service emits, drive it with events. */
import { type AllEventName, AllEvents } from "../contracts/catalog.js";
import type { Envelope } from "../lib/bus/envelope.js";
import { Publisher } from "../lib/bus/publisher.js";
import { Subscriber } from "../lib/bus/subscriber.js";
import type { Platform } from "../lib/runtime/platform.js";

export interface Observer {
  /** Envelopes received so far, per event name. */
  of(event: AllEventName): Envelope[];
  stop(): Promise<void>;
}

/** A subscriber in its own consumer group that records every message of the given events. */
export async function observe(
  platform: Platform,
  events: readonly AllEventName[],
  group = "test-observer",
): Promise<Observer> {
  const seen = new Map<string, Envelope[]>();
  const subscriber = new Subscriber({
    events: AllEvents,
    transport: platform.transport,
    group,
    consumer: `${group}-1`,
  });
  for (const event of events) {
    const envelopes: Envelope[] = [];
    seen.set(event, envelopes);
    subscriber.on(event, (_payload, ctx) => void envelopes.push(ctx.envelope));
  }
  await platform.transport.ensureGroups(group, subscriber.topics());
  await subscriber.start();
  // A copy: callers hold on to what they saw, the recording goes on.
  return { of: (event) => [...(seen.get(event) ?? [])], stop: () => subscriber.stop() };
}

/** A publisher posing as another service (source of the commands and facts a test sends). */
export const testPublisher = (platform: Platform, service = "order") =>
  new Publisher({ events: AllEvents, transport: platform.transport, source: { service, instance: "test" } });
