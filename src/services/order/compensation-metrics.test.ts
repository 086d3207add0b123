import { expect, it } from "vitest";
import { compensationOf } from "./service.js";

it("counts only compensation requests, labelled as their settlements are; the saga's failed/resolved facts are not requests", () => {
  expect(compensationOf("order.compensation.payment.refund")).toBe("payment.refund");
  expect(compensationOf("order.compensation.inventory.release")).toBe("inventory.release");
  expect(compensationOf("order.compensation.shipment.cancel")).toBe("shipment.cancel");
  expect(compensationOf("order.compensation.failed")).toBeUndefined();
  expect(compensationOf("order.compensation.resolved")).toBeUndefined();
  expect(compensationOf("payment.requested")).toBeUndefined();
});
