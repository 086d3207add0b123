import { describe, expect, it } from "vitest";
import { toAsyncApi } from "./asyncapi.js";
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
});
