import type {
  ConsumerInfo,
  DeliveryHandler,
  OutgoingMessage,
  SubscribeOptions,
  TopicRef,
  Transport,
  TransportSubscription,
} from "../lib/bus/transport.js";

/**
 * A transport that publishes every message twice (same id, same body): at-least-once delivery at
 * its worst, to show that every consumer's effects happen once anyway.
 */
export class DuplicatingTransport implements Transport {
  readonly kind: Transport["kind"];
  readonly durable: boolean;
  duplicated = 0;

  constructor(private readonly inner: Transport) {
    this.kind = inner.kind;
    this.durable = inner.durable;
  }

  ensureGroups(group: string, topics: readonly TopicRef[]): Promise<void> {
    return this.inner.ensureGroups(group, topics);
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.duplicated += messages.length;
    await this.inner.publish(messages.flatMap((m) => [m, m]));
  }

  subscribe(options: SubscribeOptions, handler: DeliveryHandler): Promise<TransportSubscription> {
    return this.inner.subscribe(options, handler);
  }

  redeliver(group: string, message: OutgoingMessage): Promise<void> {
    return this.inner.redeliver(group, message);
  }

  consumers(group: string, topics: readonly TopicRef[]): Promise<ConsumerInfo[]> {
    return this.inner.consumers(group, topics);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
