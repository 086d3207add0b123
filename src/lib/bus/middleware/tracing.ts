/**
 * Tracing for the bus, as wrappers around it (no change to the Publisher or Subscriber): a
 * publisher middleware that makes one PRODUCER span per message and writes its context into the
 * envelope's `traceparent`, and a transport decorator that runs each delivery (decoding,
 * middleware, handlers, and the ack, retry or dead-letter that settles it) inside one CONSUMER
 * span, a child of the producer's. With tracing off the decorator installs nothing (the transport
 * itself is used: no allocation per delivery); dead-letter metrics come from the Subscriber's
 * `onDeadLetter`. Span attributes follow the OpenTelemetry messaging semantic conventions
 * (`messaging.system` "redis", `messaging.destination.name` the event, ...).
 */
import { context, createContextKey, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  contextFromTraceparent,
  MESSAGING,
  tracer,
  tracingEnabled,
  traceparentOf,
} from "../../observability/spans.js";
import { describeError } from "../errors.js";
import type { PublisherMiddleware } from "../publisher.js";
import type { Delivery, DeliveryHandler, Transport } from "../transport.js";

/** `messaging.system` of every bus span: both durable and hint transports run on Redis (or memory). */
function messagingSystem(transport: Pick<Transport, "kind">): string {
  return transport.kind === "memory" ? "memory" : "redis";
}

/**
 * Producer spans started while a delivery is handled, ended when the attempt settles: a message
 * prepared for a store's outbox is written only if the attempt's store write succeeds, so a failed
 * attempt marks them as errors (`ordersaga.publish.outcome` `attempt_failed`) instead of leaving
 * OK spans for messages never written (break13 F7). Spans started after the attempt settled (work
 * it left running) end at once.
 */
interface AttemptProducers {
  spans: Span[];
  settled: boolean;
}
const ATTEMPT_PRODUCERS = createContextKey("ordersaga.attempt-producers");

/**
 * One PRODUCER span per message prepared (published now, or written by a store's outbox script):
 * a child of the active span (the request or message being handled), else of the `traceparent`
 * the caller gave (a timer continuing an order's trace). The envelope then carries the span's
 * context, so the consumer's span joins the same trace. A no-op while tracing is off.
 */
export function createTracingPublisherMiddleware(system = "redis"): PublisherMiddleware {
  return (envelope, next) => {
    if (!tracingEnabled()) return next();
    const parent = trace.getActiveSpan() ? context.active() : contextFromTraceparent(envelope.traceparent);
    const span = tracer().startSpan(
      `publish ${envelope.event}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          [MESSAGING.system]: system,
          [MESSAGING.destination]: envelope.event,
          [MESSAGING.operationName]: "publish",
          [MESSAGING.operationType]: "send",
          [MESSAGING.operation]: "publish",
          [MESSAGING.messageId]: envelope.id,
          [MESSAGING.conversationId]: envelope.correlationId,
        },
      },
      parent,
    );
    envelope.traceparent = traceparentOf(span);
    try {
      next();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error).message });
      span.end();
      throw error;
    }
    // Inside a delivery's handling: ended (as written, or not) when the attempt settles.
    const attempt = context.active().getValue(ATTEMPT_PRODUCERS) as AttemptProducers | undefined;
    if (attempt && !attempt.settled) attempt.spans.push(span);
    else span.end();
  };
}

export interface InstrumentedTransportOptions {
  /** Consumer group name, for the span attributes. */
  group: string;
}

// The envelope's own fields come before its attributes and payload in the encoded JSON, so the
// first match is the envelope's. Regexes instead of a second JSON.parse: they run for every delivery.
// The traceparent field is found whatever it holds and judged by the one strict parser
// (contextFromTraceparent uses parseTraceparent): a regex for the valid form only would skip a
// malformed envelope value and take a later field of that name (an attribute, the payload's) for
// the message's trace (bus8).
const TRACEPARENT_FIELD = /"traceparent":"([^"\\]*)"/;
const ID_FIELD = /^\{"id":"([^"\\]+)"/;
const CORRELATION_FIELD = /"correlationId":"([^"\\]*)"/;

/**
 * The transport with each delivery run inside a CONSUMER span; everything else is the
 * transport's own. Decided when called: with tracing off (no SDK registered yet, `initTracing`
 * runs first at a process's start) it returns `transport` itself, so deliveries cost nothing
 * extra. Should tracing be switched off later (the benchmark does), deliveries pass through
 * unwrapped.
 */
export function instrumentTransport(transport: Transport, options: InstrumentedTransportOptions): Transport {
  if (!tracingEnabled()) return transport;
  const system = messagingSystem(transport);
  const wrap =
    (handler: DeliveryHandler): DeliveryHandler =>
    (delivery) => {
      if (!tracingEnabled()) return handler(delivery);
      // Malformed or all-zero (decodeEnvelope makes it ""): contextFromTraceparent's strict parse
      // gives a fresh trace, the W3C rule.
      const traceparent = TRACEPARENT_FIELD.exec(delivery.body)?.[1];
      const messageId = ID_FIELD.exec(delivery.body)?.[1];
      const correlationId = CORRELATION_FIELD.exec(delivery.body)?.[1];
      const span = tracer().startSpan(
        `process ${delivery.topic}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            [MESSAGING.system]: system,
            [MESSAGING.destination]: delivery.topic,
            [MESSAGING.operationName]: "process",
            [MESSAGING.operationType]: "process",
            [MESSAGING.operation]: "process",
            [MESSAGING.consumerGroup]: options.group,
            [MESSAGING.deliveryCount]: delivery.attempt,
            ...(messageId ? { [MESSAGING.messageId]: messageId } : {}),
            ...(correlationId ? { [MESSAGING.conversationId]: correlationId } : {}),
          },
        },
        contextFromTraceparent(traceparent),
      );
      const producers: AttemptProducers = { spans: [], settled: false };
      const active = trace.setSpan(context.active(), span).setValue(ATTEMPT_PRODUCERS, producers);
      let failed = false;
      const outcome = (value: string) => {
        if (value !== "ack") failed = true;
        span.setAttribute("ordersaga.delivery.outcome", value);
      };
      return context.with(active, async () => {
        try {
          await handler(withOutcomes(delivery, span, outcome));
        } catch (error) {
          failed = true;
          span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error).message });
          throw error;
        } finally {
          producers.settled = true;
          for (const producer of producers.spans) {
            if (failed) {
              producer.setAttribute("ordersaga.publish.outcome", "attempt_failed");
              producer.setStatus({
                code: SpanStatusCode.ERROR,
                message:
                  "the handling attempt failed: a message prepared for its store write was not written",
              });
            }
            producer.end();
          }
          span.end();
        }
      });
    };

  const withOutcomes = (delivery: Delivery, span: Span, outcome: (value: string) => void): Delivery => {
    return {
      deliveryId: delivery.deliveryId,
      topic: delivery.topic,
      owner: delivery.owner,
      body: delivery.body,
      attempt: delivery.attempt,
      waitedAttempts: delivery.waitedAttempts,
      silentDeliveries: delivery.silentDeliveries,
      deliveryCount: delivery.deliveryCount,
      replay: delivery.replay,
      enqueuedAt: delivery.enqueuedAt,
      firstDeliveredAt: delivery.firstDeliveredAt,
      ageMs: () => delivery.ageMs(),
      ...(delivery.now ? { now: () => delivery.now!() } : {}),
      ack: () => {
        outcome("ack");
        return delivery.ack();
      },
      retry: (failure, delayMs) => {
        outcome("retry");
        span.setStatus({ code: SpanStatusCode.ERROR, message: failure.error.message });
        return delivery.retry(failure, delayMs);
      },
      defer: (delayMs) => {
        outcome("defer");
        return delivery.defer(delayMs);
      },
      deadLetter: async (request) => {
        outcome("dead_letter");
        span.setStatus({ code: SpanStatusCode.ERROR, message: request.reason });
        return delivery.deadLetter(request);
      },
    };
  };

  return {
    kind: transport.kind,
    durable: transport.durable,
    ensureGroups: (group, topics) => transport.ensureGroups(group, topics),
    publish: (messages) => transport.publish(messages),
    subscribe: (subscribeOptions, handler) => transport.subscribe(subscribeOptions, wrap(handler)),
    redeliver: (group, message) => transport.redeliver(group, message),
    consumers: (group, topics) => transport.consumers(group, topics),
    close: () => transport.close(),
  };
}
