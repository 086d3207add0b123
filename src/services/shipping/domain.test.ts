import { describe, expect, it } from "vitest";
import {
  cancelledRecord,
  decideCancel,
  decidePrepare,
  deliveredRecord,
  isDeliverable,
  preparedRecord,
  rejectedRecord,
  scheduledRecord,
  voidedRecord,
} from "./domain.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = new Date(T0).toISOString();
const request = { orderId: "o-1", userId: "u-1", items: [{ productId: "p-1", quantity: 3 }] };
const shipment = { shipmentId: "s-1", trackingNumber: "SIM0123456789", carrier: "SimShip" };
const prepared = scheduledRecord(preparedRecord(request, shipment, "corr-1", T0), T0, 5_000);

describe("shipping decisions", () => {
  it("prepares an order once: any record, even a cancel tombstone, makes a request a no-op", () => {
    expect(decidePrepare(undefined)).toEqual({ action: "prepare" });
    expect(decidePrepare(prepared).action).toBe("skip");
    expect(decidePrepare(voidedRecord("o-1", "saga timeout", at)).action).toBe("skip");
  });

  it("cancels a prepared shipment, leaves a tombstone when there is none, and ignores the rest", () => {
    expect(decideCancel(undefined)).toEqual({ action: "void" });
    expect(decideCancel(prepared)).toEqual({ action: "cancel", record: prepared });
    expect(decideCancel(deliveredRecord(prepared, at)).action).toBe("skip");
    expect(decideCancel(rejectedRecord(request, "no", at)).action).toBe("skip");
  });

  it("schedules delivery the given delay after preparing and carries the saga's correlation id", () => {
    expect(prepared).toMatchObject({
      status: "prepared",
      deliverAt: new Date(T0 + 5_000).toISOString(),
      correlationId: "corr-1",
      ...shipment,
    });
  });

  it("delivers only prepared shipments", () => {
    expect(isDeliverable(prepared)).toBe(true);
    const cancelled = cancelledRecord(prepared, "payment failed", at);
    expect(isDeliverable(cancelled)).toBe(false);
    expect(cancelled.deliverAt).toBeUndefined();
    expect(isDeliverable(undefined)).toBe(false);
    expect(deliveredRecord(prepared, at)).toMatchObject({ status: "delivered", deliveredAt: at });
  });
});
