import type { BusLogger } from "../context.js";
import { describeError } from "../errors.js";
import type { SubscriberMiddleware } from "../subscriber.js";

export interface SubscriberLoggingOptions {
  /** Defaults to the message context's logger (which carries correlation and message ids). */
  logger?: BusLogger;
  /** Level of the "handled" line (default "info"); failures always log at "warn". */
  level?: "debug" | "info";
  now?: () => number;
}

/** Logs every message received and its outcome with the handling time, correlation id and trace. */
export function createSubscriberLoggingMiddleware(
  options: SubscriberLoggingOptions = {},
): SubscriberMiddleware {
  const now = options.now ?? performance.now.bind(performance);
  const level = options.level ?? "info";
  return async (ctx, next) => {
    const logger = options.logger ?? ctx.logger;
    const fields = {
      event: ctx.event,
      messageId: ctx.envelope.id,
      correlationId: ctx.envelope.correlationId,
      causationId: ctx.envelope.causationId,
      traceparent: ctx.envelope.traceparent,
      attempt: ctx.attempt,
      from: ctx.envelope.source.service,
    };
    const started = now();
    // Microsecond precision is plenty, and keeps log lines short.
    const durationMs = () => Math.round((now() - started) * 1000) / 1000;
    try {
      await next();
      logger[level]({ ...fields, durationMs: durationMs() }, "event handled");
    } catch (error) {
      logger.warn({ ...fields, durationMs: durationMs(), err: describeError(error) }, "event handler failed");
      throw error;
    }
  };
}
