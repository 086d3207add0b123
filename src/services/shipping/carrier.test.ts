import { describe, expect, it } from "vitest";
import { SimulatedCarrier, trackingNumberFor } from "./carrier.js";

const line = (productId: string) => ({ productId, quantity: 1 });

describe("simulated carrier", () => {
  it("accepts ordinary lines with a tracking number derived from the order id", async () => {
    const carrier = new SimulatedCarrier();
    const first = await carrier.prepare({ orderId: "o-1", items: [line("p-1")] });
    const second = await carrier.prepare({ orderId: "o-1", items: [line("p-1")] });
    expect(first).toMatchObject({
      accepted: true,
      carrier: "SimShip",
      trackingNumber: trackingNumberFor("o-1"),
    });
    expect(trackingNumberFor("o-1")).toMatch(/^SIM\d{10}$/);
    expect(trackingNumberFor("o-2")).not.toBe(trackingNumberFor("o-1"));
    expect(second).toMatchObject({ trackingNumber: trackingNumberFor("o-1") });
  });

  it("rejects an order with a noship- line", async () => {
    const outcome = await new SimulatedCarrier().prepare({
      orderId: "o-1",
      items: [line("p-1"), line("noship-x")],
    });
    expect(outcome).toEqual({ accepted: false, reason: "carrier cannot ship product noship-x" });
  });

  it("answers slowship- lines only after the slow delay, or stops when aborted", async () => {
    const carrier = new SimulatedCarrier({ slowDelayMs: 40 });
    const started = Date.now();
    await expect(carrier.prepare({ orderId: "o-1", items: [line("slowship-x")] })).resolves.toMatchObject({
      accepted: true,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    const controller = new AbortController();
    const call = new SimulatedCarrier().prepare(
      { orderId: "o-2", items: [line("slowship-x")] },
      controller.signal,
    );
    controller.abort(new Error("deadline"));
    await expect(call).rejects.toThrow("deadline");
  });
});
