/**
 * Events owned (published) by the metrics aggregator. Counts are aggregated per time window, not
 * per message, so metrics traffic stays small whatever the load.
 */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  DurationSummarySchema,
  EventNameSchema,
  IdSchema,
  IsoTimestampSchema,
  ServiceNameSchema,
} from "./common.js";

export const BreakerStateSchema = z.enum(["CLOSED", "OPEN", "HALF_OPEN"]);
export type BreakerState = z.infer<typeof BreakerStateSchema>;

export const ProcessingOutcomeSchema = z.enum(["success", "failure", "dead_lettered"]);
export type ProcessingOutcome = z.infer<typeof ProcessingOutcomeSchema>;

export const SagaOutcomeSchema = z.enum(["completed", "failed", "cancelled"]);
export type SagaOutcome = z.infer<typeof SagaOutcomeSchema>;

const windowed = {
  count: z.number().int().nonnegative(),
  durationMs: DurationSummarySchema,
  windowStart: IsoTimestampSchema,
  windowEnd: IsoTimestampSchema,
};

const windowInOrder = (w: { windowStart: string; windowEnd: string }): boolean =>
  Date.parse(w.windowStart) <= Date.parse(w.windowEnd);
const windowIssue = { message: "windowEnd must not be before windowStart", path: ["windowEnd"] };

export const MetricsEvents = defineEvents("metrics", {
  "metrics.event.processed": {
    description: "Event processing stats",
    schema: z
      .strictObject({
        service: ServiceNameSchema,
        event: EventNameSchema,
        outcome: ProcessingOutcomeSchema,
        ...windowed,
      })
      .refine(windowInOrder, windowIssue),
  },
  "metrics.circuit.breaker.state": {
    description: "Circuit breaker changes",
    schema: z
      .strictObject({
        service: ServiceNameSchema,
        breaker: IdSchema,
        from: BreakerStateSchema,
        to: BreakerStateSchema,
        at: IsoTimestampSchema,
      })
      .refine((t) => t.from !== t.to, { message: "from and to must differ", path: ["to"] }),
  },
  "metrics.saga.completed": {
    description: "Saga completion stats",
    schema: z
      .strictObject({ service: ServiceNameSchema, outcome: SagaOutcomeSchema, ...windowed })
      .refine(windowInOrder, windowIssue),
  },
});

type E = typeof MetricsEvents;
export type MetricsEventProcessed = EventPayload<E, "metrics.event.processed">;
export type MetricsCircuitBreakerState = EventPayload<E, "metrics.circuit.breaker.state">;
export type MetricsSagaCompleted = EventPayload<E, "metrics.saga.completed">;
