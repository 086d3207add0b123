/**
 * Bounded, never-throwing text of anything a handler throws (break20 F8/F9). A handler's error can
 * embed a whole response body or a dumped payload (megabytes): the bus stores it per attempt, in
 * the dead-letter record and in its audit entry, and logs it, so every copy is capped here. And a
 * thrown value can be hostile to inspection (a null-prototype object, a getter or `toString` that
 * throws, a revoked Proxy): describing it must not throw, or the failure path itself fails and the
 * attempt is never recorded.
 */

/** The most UTF-8 bytes of error text (a message, a name, a code, a reason) the bus keeps: 2 KiB. */
export const MAX_ERROR_TEXT_BYTES = 2_048;

/** Room kept under the cap for the marker that says how much was cut. */
const MARKER_ROOM = 40;

/**
 * `text` when its UTF-8 form fits `maxBytes`, else its head (cut on a character boundary) followed
 * by `…[cut N bytes]`, the whole no longer than `maxBytes` bytes.
 */
export function capText(text: string, maxBytes: number = MAX_ERROR_TEXT_BYTES): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short texts need no count.
  if (text.length * 3 <= maxBytes) return text;
  const total = Buffer.byteLength(text);
  if (total <= maxBytes) return text;
  const budget = Math.max(0, maxBytes - MARKER_ROOM);
  // Walks the head counting UTF-8 bytes as Buffer.byteLength does (a pair 4, a lone surrogate 3),
  // so the cut never splits a character nor a surrogate pair, and no byte round trip alters it.
  let end = 0;
  let bytes = 0;
  while (end < text.length) {
    const unit = text.charCodeAt(end);
    const pair = unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(end + 1));
    const size = unit < 0x80 ? 1 : unit < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + size > budget) break;
    bytes += size;
    end += pair ? 2 : 1;
  }
  return `${text.slice(0, end)}…[cut ${total - bytes} bytes]`;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Runs `read`; its value, or `fallback` when it throws. */
function attempt<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Text of any value, never throwing: String(), else JSON, else its tag. */
export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || (typeof value !== "object" && typeof value !== "function"))
    // Numbers, booleans, bigints, symbols, undefined: String() never throws for these.
    return String(value);
  const text = attempt<string | undefined>(() => {
    const s: unknown = String(value);
    return typeof s === "string" ? s : undefined;
  }, undefined);
  if (text !== undefined) return text;
  const json = attempt<string | undefined>(() => JSON.stringify(value), undefined);
  if (typeof json === "string") return json;
  return attempt(() => Object.prototype.toString.call(value), "[unprintable value]");
}

/** Whether `value instanceof Error`, false when asking throws (a Proxy's getPrototypeOf trap). */
export function isErrorSafe(value: unknown): value is Error {
  return attempt(() => value instanceof Error, false);
}

/** `value[key]`, undefined when reading it throws (a getter, a Proxy trap) or `value` is no object. */
export function propertyOf(value: unknown, key: string): unknown {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return undefined;
  return attempt(() => (value as Record<string, unknown>)[key], undefined);
}

/**
 * `: <why>` for an ioredis EXECABORT ("Transaction discarded because of previous errors"), whose
 * reason is only in its `previousErrors` (e.g. Redis at maxmemory refusing a queued write: newuser19
 * F6, every log line said EXECABORT and none said OOM); "" otherwise. Redis's replies name no value.
 */
function firstPreviousError(value: Error): string {
  const previous = propertyOf(value, "previousErrors");
  if (!Array.isArray(previous)) return "";
  const first: unknown = attempt(() => previous.find((e) => isErrorSafe(e)), undefined);
  const text = first === undefined ? undefined : propertyOf(first, "message");
  return typeof text === "string" ? `: ${text}` : "";
}

/**
 * What the bus records of a thrown value: capped name, message and (string) code. Never throws.
 */
export function describeThrown(value: unknown): { name: string; message: string; code?: string } {
  if (isErrorSafe(value)) {
    const name = propertyOf(value, "name");
    const message = propertyOf(value, "message");
    const code = propertyOf(value, "code");
    return {
      name: capText(typeof name === "string" ? name : "Error"),
      message: capText((message === undefined ? "" : textOf(message)) + firstPreviousError(value)),
      ...(typeof code === "string" ? { code: capText(code) } : {}),
    };
  }
  return { name: "NonError", message: capText(textOf(value)) };
}
