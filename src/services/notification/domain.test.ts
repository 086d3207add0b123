import { describe, expect, it } from "vitest";
import {
  applyContactChange,
  type Contact,
  channelEnabled,
  dedupeKey,
  type NotificationRecord,
  newestFirst,
  newRecord,
  render,
  TEMPLATES,
  type Template,
} from "./domain.js";

const contact = (over: Partial<Contact> = {}): Contact => ({
  userId: "u1",
  name: "Ann",
  email: "ann@x.test",
  preferences: { email: true, push: true, sms: true },
  ...over,
});

describe("applyContactChange", () => {
  it("takes a created contact when none is known, and never overwrites with a creation", () => {
    const first = applyContactChange(undefined, { kind: "created", at: 10, contact: contact() });
    expect(first).toEqual({ at: 10, contact: contact(), deleted: false });
    expect(
      applyContactChange(first, { kind: "created", at: 20, contact: contact({ name: "B" }) }),
    ).toBeUndefined();
  });

  it("applies an update unless a newer event was applied", () => {
    const current = { at: 10, contact: contact(), deleted: false };
    expect(
      applyContactChange(current, { kind: "updated", at: 5, contact: contact({ name: "Old" }) }),
    ).toBeUndefined();
    expect(
      applyContactChange(current, { kind: "updated", at: 10, contact: contact({ name: "Same ms" }) })?.contact
        ?.name,
    ).toBe("Same ms");
  });

  it("orders versioned changes by version whatever their dates; by date when a side has none (break35 F7)", () => {
    const current = { at: 10, version: 2, contact: contact(), deleted: false };
    const stepBack = {
      kind: "updated" as const,
      at: 5,
      version: 3,
      contact: contact({ name: "After step" }),
    };
    expect(applyContactChange(current, stepBack)).toEqual({
      at: 5,
      version: 3,
      contact: contact({ name: "After step" }),
      deleted: false,
    });
    expect(applyContactChange(current, { ...stepBack, at: 99, version: 2 })).toBeUndefined();
    expect(applyContactChange(current, { ...stepBack, at: 10, version: 1 })).toBeUndefined();
    // An event from before versions: by date; what it leaves has no version.
    expect(applyContactChange(current, { kind: "updated", at: 5, contact: contact() })).toBeUndefined();
    expect(applyContactChange(current, { kind: "updated", at: 11, contact: contact() })).toEqual({
      at: 11,
      contact: contact(),
      deleted: false,
    });
  });

  it("makes deletion final", () => {
    const deleted = applyContactChange(undefined, { kind: "deleted", at: 10, userId: "u1" });
    expect(deleted).toEqual({ at: 10, deleted: true });
    expect(applyContactChange(deleted, { kind: "updated", at: 99, contact: contact() })).toBeUndefined();
  });
});

// The notifier claims a template's channels (TEMPLATES) that channelEnabled lets through.
const enabled = (template: Template, c: Contact) =>
  TEMPLATES[template].channels.filter((channel) => channelEnabled(c, channel));

describe("channelEnabled", () => {
  it("follows the user's preferences", () => {
    const prefs = { email: true, push: false, sms: false };
    expect(enabled("order.confirmed", contact({ preferences: prefs }))).toEqual(["email"]);
  });

  it("sends SMS only to a user with a phone number", () => {
    expect(enabled("order.failed", contact())).toEqual(["email", "push"]);
    expect(enabled("order.failed", contact({ phone: "+1 555 0100" }))).toEqual(["email", "push", "sms"]);
  });

  it("sends the welcome by email only", () => {
    expect(enabled("welcome", contact({ phone: "+1 555 0100" }))).toEqual(["email"]);
    expect(enabled("welcome", contact({ preferences: { email: false, push: true, sms: true } }))).toEqual([]);
  });
});

describe("dedupeKey", () => {
  it("keys order facts by order and user facts by user, per channel", () => {
    expect(dedupeKey({ template: "order.confirmed", userId: "u1", orderId: "o1", data: {} }, "sms")).toBe(
      "order.confirmed:o1:sms",
    );
    expect(dedupeKey({ template: "welcome", userId: "u1", data: {} }, "email")).toBe("welcome:u1:email");
  });
});

describe("render", () => {
  it("writes the order total in major units", () => {
    const intent = {
      template: "order.confirmed" as const,
      userId: "u1",
      orderId: "o1",
      data: { total: 1250, currency: "EUR" },
    };
    expect(render(intent, contact()).text).toBe("Your order o1 is confirmed: 12.50 EUR.");
  });
});

describe("records", () => {
  it("start as sending and sort newest first, ties by id", () => {
    const intent = { template: "order.failed" as const, userId: "u1", orderId: "o1", data: {} };
    const a = newRecord(intent, "email", "n1", "2024-01-01T00:00:00.000Z");
    expect(a).toEqual({
      notificationId: "n1",
      userId: "u1",
      channel: "email",
      template: "order.failed",
      orderId: "o1",
      createdAt: "2024-01-01T00:00:00.000Z",
      status: "sending",
    });
    const b: NotificationRecord = { ...a, notificationId: "n2" };
    const c: NotificationRecord = { ...a, notificationId: "n0", createdAt: "2024-01-02T00:00:00.000Z" };
    expect([a, b, c].sort(newestFirst).map((r) => r.notificationId)).toEqual(["n0", "n2", "n1"]);
  });
});
