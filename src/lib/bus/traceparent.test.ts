import { describe, expect, it } from "vitest";
import { childTraceparent, isTraceparent, parseTraceparent, traceIdOf } from "./envelope.js";
import { INVALID_TRACEPARENTS, VALID_TRACEPARENT } from "./traceparent.samples.js";

describe("parseTraceparent (W3C Trace Context, version 00)", () => {
  it("returns the fields of a valid traceparent", () => {
    expect(parseTraceparent(VALID_TRACEPARENT)).toEqual({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      parentId: "b7ad6b7169203331",
      flags: "01",
    });
  });

  it.each(Object.entries(INVALID_TRACEPARENTS))("refuses one with %s", (_reason, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it.each(Object.entries(INVALID_TRACEPARENTS))(
    "traceIdOf, isTraceparent and childTraceparent refuse one with %s too",
    (_reason, value) => {
      // traceIdOf kept its own looser regex: it returned the all-zero trace id.
      expect(traceIdOf(value)).toBeUndefined();
      expect(isTraceparent(value)).toBe(false);
      // A child of an invalid parent is a fresh trace.
      const child = childTraceparent(value);
      expect(isTraceparent(child)).toBe(true);
      expect(child.slice(3, 35)).not.toBe(value.slice(3, 35).toLowerCase());
    },
  );

  it("a child of a valid traceparent keeps its trace id and flags, with a new parent id", () => {
    const child = parseTraceparent(childTraceparent(VALID_TRACEPARENT));
    expect(child?.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(child?.flags).toBe("01");
    expect(child?.parentId).not.toBe("b7ad6b7169203331");
    expect(traceIdOf(VALID_TRACEPARENT)).toBe("0af7651916cd43dd8448eb211c80319c");
  });
});
