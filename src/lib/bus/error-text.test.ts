/**
 * Describing a thrown value never throws and is always small (break20 F8/F9): checked over a fixed
 * list of hostile values and over many random ones (seeded, so a failure repeats).
 */
import { describe, expect, it } from "vitest";
import { capText, describeThrown, MAX_ERROR_TEXT_BYTES } from "./error-text.js";
import { describeError, isOutage, isRetryable, retryAfterOf, usableThrown, waits } from "./errors.js";

/** Small seeded PRNG (mulberry32): the same cases on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const boom = () => {
  throw new Error("boom");
};
/** A Proxy every trap of which throws (its handler is itself such a Proxy). */
const hostile = new Proxy({}, new Proxy({}, { get: () => boom }));
const revoked = (() => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
})();

function errorWith(props: Record<string, PropertyDescriptor>): Error {
  return Object.defineProperties(new Error("base"), props);
}

const circular: Record<string, unknown> = { big: 1n };
circular.self = circular;

const oddValues: [string, unknown][] = [
  ["null", null],
  ["undefined", undefined],
  ["NaN", Number.NaN],
  ["BigInt", 10n ** 30n],
  ["Symbol", Symbol("s")],
  ["empty string", ""],
  ["5 MB string", "y".repeat(5_000_000)],
  ["null-prototype object", Object.create(null)],
  ["throwing toString", { toString: boom }],
  ["throwing toPrimitive", { [Symbol.toPrimitive]: boom }],
  ["toString not a function, valueOf throws", { toString: 5, valueOf: boom }],
  ["circular with BigInt", circular],
  ["revoked Proxy", revoked],
  ["Proxy whose every trap throws", hostile],
  ["function", () => 1],
  ["Error with throwing code getter", errorWith({ code: { enumerable: true, get: boom } })],
  ["Error with throwing message getter", errorWith({ message: { get: boom } })],
  ["Error with throwing name getter", errorWith({ name: { get: boom } })],
  [
    "Error with throwing retryable/outage/waits",
    errorWith({ retryable: { get: boom }, outage: { get: boom }, waits: { get: boom } }),
  ],
  ["Error whose message is a null-prototype object", errorWith({ message: { value: Object.create(null) } })],
  [
    "Error with a 3 MB name and message",
    errorWith({ name: { value: "N".repeat(3e6) }, message: { value: "€".repeat(1e6) } }),
  ],
  ["Error with a 1 MB code", errorWith({ code: { value: "C".repeat(1e6) } })],
  ["Error-prototype Proxy with throwing traps", new Proxy(new Error("p"), { get: boom, has: boom })],
];

/** Random error-like values: an Error or plain object whose fields are odd or throw when read. */
function randomOdd(random: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const fieldValues: (() => PropertyDescriptor)[] = [
    () => ({ get: boom }),
    () => ({ value: Object.create(null) }),
    () => ({ value: 1n }),
    () => ({ value: Symbol("f") }),
    () => ({ value: "é😀".repeat(Math.floor(random() * 5_000)) }),
    () => ({ value: hostile }),
    () => ({ value: undefined }),
    () => ({ value: true }),
  ];
  const base: object = pick([
    () => new Error("e"),
    () => ({}),
    () => Object.create(null),
    () => new TypeError("t"),
  ])();
  for (const key of ["name", "message", "code", "retryable", "outage", "waits", "retryAfterMs", "toString"])
    if (random() < 0.5)
      Object.defineProperty(base, key, { enumerable: true, configurable: true, ...pick(fieldValues)() });
  return random() < 0.2 ? new Proxy(base, pick([{}, { get: boom }, { getPrototypeOf: boom }])) : base;
}

function expectDescribable(value: unknown): void {
  const described = describeError(value);
  for (const text of [described.name, described.message, described.code ?? ""]) {
    expect(typeof text).toBe("string");
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ERROR_TEXT_BYTES);
  }
  const usable = usableThrown(value);
  expect(() => usable instanceof Error).not.toThrow();
  expect(typeof isRetryable(usable)).toBe("boolean");
  expect(typeof isOutage(value)).toBe("boolean");
  expect(typeof waits(value)).toBe("boolean");
  expect(retryAfterOf(value)).toBe(0);
}

describe("describeError and the error checks over odd thrown values", () => {
  it.each(oddValues)("%s: described, small, never throwing", (_label, value) => {
    expectDescribable(value);
  });

  it("500 random odd error-like values: described, small, never throwing", () => {
    const random = prng(20);
    for (let i = 0; i < 500; i++) expectDescribable(randomOdd(random));
  });

  it("keeps what can be read", () => {
    expect(describeError(Object.create(null))).toEqual({ name: "NonError", message: "{}" });
    expect(describeError(errorWith({ code: { enumerable: true, get: boom } }))).toEqual({
      name: "Error",
      message: "base",
    });
    expect(describeError(null)).toEqual({ name: "NonError", message: "null" });
    expect(describeError(Object.assign(new Error("m"), { code: "E1" }))).toEqual({
      name: "Error",
      message: "m",
      code: "E1",
    });
    expect(isRetryable(errorWith({ retryable: { get: boom } }))).toBe(true);
  });
});

describe("capText", () => {
  it("keeps a text that fits as is, cuts one that does not on a character boundary, marked", () => {
    const random = prng(9);
    const alphabet = ["a", "é", "€", "😀", "\n", "\uD800"];
    for (let i = 0; i < 2_000; i++) {
      const length = Math.floor(random() * 3_000);
      let text = "";
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      const max = 64 + Math.floor(random() * 3_000);
      const out = capText(text, max);
      const bytes = Buffer.byteLength(text);
      expect(Buffer.byteLength(out)).toBeLessThanOrEqual(max);
      if (bytes <= max) {
        expect(out).toBe(text);
        continue;
      }
      const match = /^([\s\S]*)…\[cut (\d+) bytes\]$/.exec(out);
      expect(match).not.toBeNull();
      const head = match![1]!;
      expect(text.startsWith(head)).toBe(true);
      // Never a surrogate pair split (a lone surrogate of the input itself may end the head).
      expect(/[\uD800-\uDBFF]$/.test(head) && /^[\uDC00-\uDFFF]/.test(text.slice(head.length))).toBe(false);
      expect(Buffer.byteLength(head) + Number(match![2])).toBe(bytes);
    }
  });

  it("cuts a 5 MB text to at most MAX_ERROR_TEXT_BYTES", () => {
    const out = capText("😀".repeat(1_250_000));
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(MAX_ERROR_TEXT_BYTES);
    expect(out).toMatch(/^(😀)+…\[cut 4\d{6} bytes\]$/);
  });
});

describe("an aborted MULTI's reason", () => {
  it("an EXECABORT says why: the first refused command's error, from previousErrors (newuser19 F6)", () => {
    const refused = new Error("OOM command not allowed when used memory > 'maxmemory'.");
    const aborted = Object.assign(new Error("EXECABORT Transaction discarded because of previous errors."), {
      previousErrors: [refused],
    });
    expect(describeThrown(aborted).message).toBe(
      "EXECABORT Transaction discarded because of previous errors.: OOM command not allowed when used memory > 'maxmemory'.",
    );
    // Anything else in that place adds nothing, and never throws.
    expect(describeThrown(Object.assign(new Error("x"), { previousErrors: "no" })).message).toBe("x");
    expect(describeThrown(Object.assign(new Error("x"), { previousErrors: [42] })).message).toBe("x");
  });
});
