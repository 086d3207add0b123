import { describe, expect, expectTypeOf, it } from "vitest";
import { UnknownEventError, ValidationError } from "./errors.js";
import {
  combineRegistries,
  defineEvents,
  describeRegistry,
  type EventPayload,
  parsePayload,
} from "./events.js";
import { ShopEvents, TestEvents } from "./test-events.js";

describe("event registry", () => {
  it("records owner, description and version of each event", () => {
    expect(TestEvents["item.added"].owner).toBe("shop");
    expect(TestEvents["audit.noted"]).toMatchObject({
      owner: "audit",
      version: 2,
      description: "Something was noted",
    });
    expect(TestEvents["item.removed"].version).toBe(1);
  });

  it("lists itself sorted by name", () => {
    expect(describeRegistry(TestEvents).map((e) => e.name)).toEqual([
      "audit.noted",
      "item.added",
      "item.removed",
    ]);
  });

  it("returns the parsed payload with defaults applied", () => {
    expect(parsePayload(TestEvents, "audit.noted", { note: "x" })).toEqual({ note: "x", level: "info" });
  });

  it("rejects an invalid payload with the path of each issue", () => {
    try {
      parsePayload(TestEvents, "item.added", { sku: "", quantity: -1 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.path)).toEqual(["sku", "quantity"]);
      expect((error as ValidationError).retryable).toBe(false);
    }
  });

  it("rejects unknown event names, including inherited object keys", () => {
    expect(() => parsePayload(TestEvents, "nope", {})).toThrow(UnknownEventError);
    expect(() => parsePayload(TestEvents, "toString", {})).toThrow(UnknownEventError);
  });

  it("refuses to combine registries that define one name twice", () => {
    const twin = defineEvents("other", { "item.added": ShopEvents["item.added"] });
    expect(() => combineRegistries(ShopEvents, twin)).toThrow(/defined twice/);
  });

  it("infers payload types from the schemas", () => {
    expectTypeOf<EventPayload<typeof TestEvents, "item.added">>().toEqualTypeOf<{
      sku: string;
      quantity: number;
    }>();
    expectTypeOf<EventPayload<typeof TestEvents, "audit.noted">["level"]>().toEqualTypeOf<"info" | "warn">();
  });
});
