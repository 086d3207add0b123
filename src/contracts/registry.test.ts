import { describe, expect, it } from "vitest";
import { combineRegistries, describeRegistry } from "../lib/bus/events.js";
import { AllEvents } from "./catalog.js";
import { EVENT_NAME_PATTERN } from "./common.js";
import { eventFixtures } from "./fixtures.js";
import { OrderEvents } from "./order.js";
import { UserEvents } from "./user.js";

/** Every event named in the spec's catalog tables. */
const specEvents = [
  "user.created",
  "user.updated",
  "user.deleted",
  "user.validated",
  "order.placed",
  "order.inventory.reserved",
  "order.payment.processed",
  "order.shipment.prepared",
  "order.completed",
  "order.cancelled",
  "order.compensation.inventory.release",
  "order.compensation.payment.refund",
  "order.compensation.shipment.cancel",
  "payment.requested",
  "payment.processed",
  "payment.failed",
  "payment.refund.requested",
  "payment.refunded",
  "inventory.reservation.requested",
  "inventory.reserved",
  "inventory.reservation.failed",
  "inventory.released",
  "inventory.committed",
  "inventory.lowStock",
  "service.registered",
  "service.deregistered",
  "service.health.status",
  "service.heartbeat",
  "metrics.event.processed",
  "metrics.circuit.breaker.state",
  "metrics.saga.completed",
  "order.event.created",
  "order.event.status.changed",
] as const;

const owners = ["user", "order", "inventory", "payment", "shipping", "notification", "discovery", "metrics"];

describe("the event catalog", () => {
  it.each(specEvents)("contains the spec's %s with an owner and a description", (name) => {
    const def = Object.hasOwn(AllEvents, name) ? AllEvents[name] : undefined;
    expect(def?.name).toBe(name);
    expect(owners).toContain(def?.owner);
    expect(def?.description.trim().length).toBeGreaterThan(0);
    expect(def?.version).toBeGreaterThanOrEqual(1);
  });

  it("names every event in the dotted lower-camel form", () => {
    const bad = Object.keys(AllEvents).filter((name) => !EVENT_NAME_PATTERN.test(name));
    expect(bad).toEqual([]);
  });

  it("gives every event exactly one sample fixture", () => {
    expect(Object.keys(eventFixtures).sort()).toEqual(Object.keys(AllEvents).sort());
  });

  it("makes the order service own the saga's commands and compensations", () => {
    const commands = [
      "user.validation.requested",
      "inventory.reservation.requested",
      "inventory.commit.requested",
      "payment.requested",
      "shipping.shipment.requested",
      "order.compensation.inventory.release",
      "order.compensation.payment.refund",
      "order.compensation.shipment.cancel",
    ] as const;
    expect(commands.map((name) => AllEvents[name].owner)).toEqual(commands.map(() => "order"));
  });

  it("makes each publishing service own the facts it reports", () => {
    expect(AllEvents["user.validated"].owner).toBe("user");
    expect(AllEvents["inventory.reserved"].owner).toBe("inventory");
    expect(AllEvents["payment.processed"].owner).toBe("payment");
    expect(AllEvents["shipping.shipment.prepared"].owner).toBe("shipping");
    expect(AllEvents["notification.sent"].owner).toBe("notification");
    expect(AllEvents["service.heartbeat"].owner).toBe("discovery");
    expect(AllEvents["metrics.saga.completed"].owner).toBe("metrics");
  });

  it("uses the spec's wording for the spec's descriptions", () => {
    expect(AllEvents["order.placed"].description).toBe("Order created (Saga start)");
    expect(AllEvents["inventory.committed"].description).toBe("Stock deducted");
    expect(AllEvents["order.compensation.payment.refund"].description).toBe("Refund processed payment");
  });

  it("lists itself sorted by name for docs", () => {
    const listed = describeRegistry(AllEvents).map((entry) => entry.name);
    expect(listed).toEqual([...listed].sort((a, b) => a.localeCompare(b)));
    expect(listed).toHaveLength(Object.keys(AllEvents).length);
  });

  it("refuses to combine a registry that redefines an existing event", () => {
    const clash = { "order.placed": { ...OrderEvents["order.placed"], owner: "user" } };
    expect(() => combineRegistries(UserEvents, OrderEvents, clash)).toThrow(/defined twice/);
  });
});
