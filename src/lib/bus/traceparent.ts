/**
 * The one parser of W3C Trace Context `traceparent` values (https://www.w3.org/TR/trace-context/,
 * "traceparent Header"): envelopes, stored traceparents and HTTP headers all go through it, so a
 * value one reader takes for a trace, every other does too. No imports: the HTTP server uses it.
 */

/** The fields of a valid `traceparent`, lowercase hex. */
export interface Traceparent {
  /** 32 hex digits, not all zero. */
  traceId: string;
  /** 16 hex digits (the caller's span id), not all zero. */
  parentId: string;
  /** 2 hex digits (bit 0: sampled). */
  flags: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE_ID = "0".repeat(32);
const ZERO_PARENT_ID = "0".repeat(16);

/**
 * Parses a `traceparent` of version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`,
 * lowercase, neither id all zeros (the spec calls those invalid). Anything else, including other
 * versions, uppercase hex, surrounding spaces or trailing fields, is undefined: only these are ever
 * sent or kept, since services store and splice the value (break-svc F1). One regex run.
 */
export function parseTraceparent(value: string | undefined): Traceparent | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value);
  if (!match || match[1] === ZERO_TRACE_ID || match[2] === ZERO_PARENT_ID) return undefined;
  return { traceId: match[1]!, parentId: match[2]!, flags: match[3]! };
}
