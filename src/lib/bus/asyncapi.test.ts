import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AllEvents } from "../../contracts/index.js";
import { toAsyncApi } from "./asyncapi.js";
import { combineRegistries, defineEvents } from "./events.js";
import { TestEvents } from "./test-events.js";

describe("toAsyncApi", () => {
  it("describes every event as a channel with its payload schema and owner", () => {
    const doc = toAsyncApi(TestEvents, { title: "t", version: "1" }) as {
      asyncapi: string;
      channels: Record<
        string,
        { address: string; messages: Record<string, { payload: { required?: string[] }; "x-owner": string }> }
      >;
    };
    expect(doc.asyncapi).toBe("3.0.0");
    expect(Object.values(doc.channels).map((c) => c.address)).toEqual([
      "audit.noted",
      "item.added",
      "item.removed",
    ]);
    const added = doc.channels.item_added!.messages.item_added!;
    expect(added["x-owner"]).toBe("shop");
    expect(added.payload.required).toEqual(["sku", "quantity"]);
  });

  // Newuser8 M3: the order's event-store records had channels, as if a subscriber could get them.
  it("gives no channel or operation to a history record, which is never published", () => {
    const history = defineEvents("shop", {
      "shop.event.opened": { schema: z.object({}), description: "A record", historyRecord: true },
    });
    const doc = toAsyncApi(combineRegistries(TestEvents, history), { title: "t", version: "1" }) as {
      channels: Record<string, { address: string }>;
      operations: Record<string, unknown>;
    };
    expect(Object.values(doc.channels).map((c) => c.address)).toEqual([
      "audit.noted",
      "item.added",
      "item.removed",
    ]);
    expect(Object.keys(doc.operations)).toHaveLength(3);
  });

  it("has no channel for the order's history records order.event.created and order.event.status.changed", () => {
    const doc = toAsyncApi(AllEvents, { title: "t", version: "1" }) as {
      channels: Record<string, { address: string }>;
    };
    const addresses = Object.values(doc.channels).map((c) => c.address);
    expect(addresses).toContain("order.placed");
    expect(addresses).not.toContain("order.event.created");
    expect(addresses).not.toContain("order.event.status.changed");
  });
});
