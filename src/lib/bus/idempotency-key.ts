import { createHash } from "node:crypto";

/** JSON with object keys sorted at every depth, so equal values give equal strings. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : stableStringify(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}

/**
 * Deterministic key for "this event with this payload": the same event name and an equal payload
 * (whatever the key order) always give the same key.
 */
export function generateIdempotencyKey(eventName: string, payload: unknown): string {
  const digest = createHash("sha256")
    .update(eventName)
    .update("\n")
    .update(stableStringify(payload))
    .digest("hex");
  return `${eventName}:${digest.slice(0, 32)}`;
}
