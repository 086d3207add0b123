import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import type { OrderView } from "../demo/scenarios.js";
import { createMemoryPlatform } from "../lib/runtime/platform.js";
import { DuplicatingTransport } from "../test-support/duplicating-transport.js";
import { waitFor } from "../test-support/wait.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

describe("every event delivered twice", () => {
  let system: EmbeddedSystem;
  let duplicating: DuplicatingTransport;

  beforeAll(async () => {
    const base = createMemoryPlatform();
    duplicating = new DuplicatingTransport(base.transport);
    system = await startEmbeddedSystem({
      platform: { ...base, transport: duplicating },
      gatewayPort: 0,
      logLevel: "silent",
    });
  });
  afterAll(() => system?.stop());

  it("reaches the same end state with the same side effects as once", async () => {
    const api = createApiClient(system.gatewayUrl);
    const user = await api.post<{ id: string }>("/users", {
      email: `dup-${randomUUID()}@example.com`,
      name: "Dup",
      phone: "+15551234567",
      preferences: { email: true, push: true, sms: true },
    });
    const productId = `prod-${randomUUID().slice(0, 8)}`;
    await api.post("/inventory", { productId, name: "Twice", price: 700, quantity: 10 });
    const placed = await api.post<{ orderId: string }>("/orders", {
      userId: user.body.id,
      items: [{ productId, quantity: 3 }],
      payment: { token: "tok_ok" },
    });
    const order = await waitFor(
      async () => {
        const res = await api.get<OrderView>(`/orders/${placed.body.orderId}`);
        return ["shipped", "delivered"].includes(res.body.status) ? res.body : undefined;
      },
      15_000,
      "order shipped",
    );
    expect(order.total).toBe(2100);
    const stock = await waitFor(
      async () => {
        const res = await api.get<{ available: number; reserved: number; committed: number }>(
          `/inventory/${productId}`,
        );
        return res.body.committed > 0 ? res.body : undefined;
      },
      10_000,
      "stock committed",
    );
    expect(stock).toMatchObject({ available: 7, reserved: 0, committed: 3 });
    const events = (
      await api.get<{ events: { type: string; data: { to?: string } }[] }>(
        `/orders/${placed.body.orderId}/events`,
      )
    ).body.events;
    const transitions = events.filter((e) => e.type === "order.event.status.changed").map((e) => e.data.to);
    expect(new Set(transitions).size).toBe(transitions.length);
    const notes = await waitFor(
      async () => {
        const res = await api.get<{ notifications: { template: string; channel: string }[] }>(
          `/notifications?orderId=${placed.body.orderId}`,
        );
        return res.body.notifications?.length >= 3 ? res.body.notifications : undefined;
      },
      10_000,
      "notifications",
    );
    const keys = notes.map((n) => `${n.template}/${n.channel}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(duplicating.duplicated).toBeGreaterThan(10);
  });
});
