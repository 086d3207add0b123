import { afterEach, describe, expect, it, vi } from "vitest";
import { CreatedSchema, StatusChangedSchema } from "./events.js";
import { OrderRepository } from "./repository.js";
import { createMemoryOrderStores, inlineProjections } from "./store.js";

const created = {
  type: "order.event.created" as const,
  data: {
    orderId: "o1",
    userId: "u1",
    items: [{ productId: "p1", quantity: 1 }],
    placedAt: new Date(0).toISOString(),
  },
  metadata: { paymentToken: "tok_ok", correlationId: "c-o1" },
};
const cancelled = {
  type: "order.event.status.changed" as const,
  data: { orderId: "o1", from: "pending" as const, to: "cancelled" as const, reason: "user" },
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe("inline views of a save", () => {
  it("are folded from the events the save decided, not from those events parsed again", async () => {
    const stores = createMemoryOrderStores({ publish: async () => {} });
    const repository = new OrderRepository(stores.events, { inline: inlineProjections(stores) });
    const parses = [vi.spyOn(CreatedSchema, "parse"), vi.spyOn(StatusChangedSchema, "parse")];
    const version = await repository.save("o1", "no_stream", [created], [], 1_000);
    await repository.save("o1", version, [cancelled], [], 2_000);
    expect(parses.map((p) => p.mock.calls.length)).toEqual([0, 0]);
    const view = await stores.views.get("o1");
    expect(view).toMatchObject({ id: "o1", status: "cancelled", version: 2 });
    expect(await stores.list.get("o1")).toBeDefined();
  });
});
