import type { BusLogger } from "../context.js";
import { describeError } from "../errors.js";
import type { SubscriberMiddleware } from "../subscriber.js";

export interface SubscriberLoggingOptions {
  /**
   * Defaults to the message context's logger (bound to the event, message and correlation ids); a
   * logger given here gets those ids on each line instead.
   */
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
    // The message context's logger is a child bound to `event`, `messageId` and `correlationId`
    // (subscriber.ts): repeating them here printed each key twice on one line. A logger given in
    // the options carries none of them.
    const ids =
      options.logger === undefined
        ? {}
        : { event: ctx.event, messageId: ctx.envelope.id, correlationId: ctx.envelope.correlationId };
    const fields = {
      ...ids,
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
