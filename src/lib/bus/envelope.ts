import { randomBytes } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { z } from "zod";
import { MalformedMessageError } from "./errors.js";

/** Who emitted a message: the service and the instance of it. */
export interface MessageSource {
  service: string;
  instance: string;
}

/**
 * The wire format of every message. The payload is validated against the event's schema;
 * the rest is metadata for routing, tracing and deduplication.
 */
export interface Envelope<P = unknown> {
  /** UUIDv7: unique and sortable by creation time. */
  id: string;
  event: string;
  /** Schema version of the payload. */
  version: number;
  /** ISO-8601 time the fact happened. */
  occurredAt: string;
  source: MessageSource;
  /** Shared by every message of one business flow (one order's saga). */
  correlationId: string;
  /** Id of the message whose handling caused this one. */
  causationId?: string;
  /** Publisher-side deduplication key: same key, same fact. */
  idempotencyKey?: string;
  /** W3C trace context: 00-<trace-id>-<span-id>-<flags>. */
  traceparent: string;
  attributes: Record<string, string>;
  payload: P;
}

export const newMessageId = (): string => uuidv7();

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A child span of `parent` (same trace id, new span id), or a fresh trace when there is none. */
export function childTraceparent(parent?: string): string {
  const span = randomBytes(8).toString("hex");
  const match = parent ? TRACEPARENT.exec(parent) : null;
  if (match) return `00-${match[1]}-${span}-${match[3]}`;
  return `00-${randomBytes(16).toString("hex")}-${span}-01`;
}

export function traceIdOf(traceparent: string): string | undefined {
  return TRACEPARENT.exec(traceparent)?.[1];
}

const envelopeSchema = z.object({
  id: z.string().min(1),
  event: z.string().min(1),
  version: z.number().int().positive(),
  occurredAt: z.string().min(1),
  source: z.object({ service: z.string(), instance: z.string() }),
  correlationId: z.string().min(1),
  causationId: z.string().optional(),
  idempotencyKey: z.string().optional(),
  traceparent: z.string(),
  attributes: z.record(z.string(), z.string()),
  payload: z.unknown(),
});

export function encodeEnvelope(envelope: Envelope): string {
  return JSON.stringify(envelope);
}

/** Parses wire bytes into an envelope (payload not yet validated). Throws MalformedMessageError. */
export function decodeEnvelope(body: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new MalformedMessageError(`not JSON (${(error as Error).message})`);
  }
  const parsed = envelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new MalformedMessageError(
      parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  }
  return parsed.data as Envelope;
}
