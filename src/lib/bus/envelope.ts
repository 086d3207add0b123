import { randomFillSync } from "node:crypto";
import { CLOCK_STEP_THRESHOLD_MS } from "../redis/clock.js";
import { MalformedMessageError } from "./errors.js";
import { parseTraceparent } from "./traceparent.js";

export { parseTraceparent, type Traceparent } from "./traceparent.js";

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

/**
 * A W3C Trace Context `traceparent` of version 00: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, trace
 * id and parent id not all zeros (see parseTraceparent). Only these are ever sent or kept.
 */
export function isTraceparent(value: string): boolean {
  return parseTraceparent(value) !== undefined;
}

// Random bytes come from a pool refilled 4 KiB at a time: one syscall per ~170 messages, not two each.
const pool = Buffer.allocUnsafe(4096);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += bytes;
  return pool.toString("hex", poolOffset - bytes, poolOffset);
}

/**
 * A UUIDv7 (RFC 9562) generator dated by `now` (epoch ms): 48 bits of Unix milliseconds, then a
 * 12-bit counter (method 1) so ids made in the same millisecond by this generator still sort in
 * creation order, then 62 random bits. Each generator keeps its own monotonic state: ids dated by
 * the platform's shared Redis-time clock are never pushed ahead by ids a fast host clock dated.
 * Monotonic over small corrections only: a time more than `CLOCK_STEP_THRESHOLD_MS` (1 s) behind
 * the last id's is a step of the clock (the shared clock re-anchored after Redis's clock stepped
 * back, break11 F1), and the ids follow it. The id's time is the message's signed creation time
 * (dedupe-window.ts): held at the old high value, it would date every message in the future of the
 * consumers' clocks (dead-lettered as `CREATED_IN_FUTURE` beyond the 1 min margin). Ids then stay
 * unique by their random bits (a random sequence start and 62 more), as ids of different
 * processes always have; only their order within this process breaks at the step, and nothing
 * orders by it (order lists sort by creation time first, DLQ pages by their own time).
 */
export function messageIdGenerator(now: () => number): (at?: number) => string {
  let lastMs = 0;
  let sequence = 0;
  // `at`: the time (epoch ms) the caller already read from `now`, so one message reads its clock once.
  return (at) => {
    let ms = at ?? now();
    if (ms <= lastMs && lastMs - ms <= CLOCK_STEP_THRESHOLD_MS) {
      ms = lastMs;
      if (++sequence > 0xfff) {
        ms++;
        sequence = 0;
      }
    } else {
      // A random start in the lower half leaves room to count within the millisecond.
      sequence = Number.parseInt(randomHex(2), 16) & 0x7ff;
    }
    lastMs = ms;
    const time = ms.toString(16).padStart(12, "0");
    const random = randomHex(8);
    const variant = ((Number.parseInt(random[0]!, 16) & 0x3) | 0x8).toString(16);
    return `${time.slice(0, 8)}-${time.slice(8)}-7${sequence.toString(16).padStart(3, "0")}-${variant}${random.slice(1, 4)}-${random.slice(4)}`;
  };
}

/**
 * A UUIDv7 dated by this host's clock: for ids no other machine reads a time from (correlation
 * ids, tests). Message ids a consumer dates are made by a Publisher on the platform's clock.
 */
export const newMessageId: () => string = messageIdGenerator(() => Date.now());

/** A child span of `parent` (same trace id, new span id), or a fresh trace when there is none. */
export function childTraceparent(parent?: string): string {
  const span = randomHex(8);
  const valid = parseTraceparent(parent);
  if (valid) return `00-${valid.traceId}-${span}-${valid.flags}`;
  return `00-${randomHex(16)}-${span}-01`;
}

/** The trace id of a valid `traceparent` (see parseTraceparent), else undefined. */
export function traceIdOf(traceparent: string): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Why `raw` is not an envelope, or undefined when it is one. Hand-written: it runs for every message. */
function envelopeProblem(raw: unknown): string | undefined {
  if (!isRecord(raw)) return "not an object";
  for (const field of ["id", "event", "occurredAt", "correlationId", "traceparent"] as const) {
    if (!isString(raw[field]) || (field !== "traceparent" && raw[field] === ""))
      return `${field}: expected a non-empty string`;
  }
  if (!Number.isInteger(raw.version) || (raw.version as number) < 1)
    return "version: expected a positive integer";
  const source = raw.source;
  if (!isRecord(source) || !isString(source.service) || !isString(source.instance))
    return "source: expected { service, instance }";
  for (const field of ["causationId", "idempotencyKey"] as const) {
    if (raw[field] !== undefined && !isString(raw[field])) return `${field}: expected a string`;
  }
  const attributes = raw.attributes;
  if (!isRecord(attributes) || !Object.values(attributes).every(isString))
    return "attributes: expected a record of strings";
  if (!("payload" in raw)) return "payload: missing";
  return undefined;
}

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
  const problem = envelopeProblem(raw);
  if (problem) throw new MalformedMessageError(problem);
  const envelope = raw as Envelope;
  // The W3C rule for an invalid traceparent: ignore it (a fresh trace follows), never fail the
  // business message over it. '' is how an envelope says "no trace".
  if (envelope.traceparent !== "" && !isTraceparent(envelope.traceparent)) envelope.traceparent = "";
  return envelope;
}
