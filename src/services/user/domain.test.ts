import { describe, expect, it } from "vitest";
import { applyUpdate, createdPayload, decideValidation, newUser, updatedPayload } from "./domain.js";

const T0 = "2024-01-01T00:00:00.000Z";
const T1 = "2024-01-02T00:00:00.000Z";
const base = () => newUser({ email: "Ann@Example.COM", name: "Ann", phone: "+1 555 0100" }, "u1", T0);

describe("newUser", () => {
  it("lower-cases the email and applies default preferences", () => {
    expect(base()).toEqual({
      id: "u1",
      email: "ann@example.com",
      name: "Ann",
      phone: "+1 555 0100",
      preferences: { email: true, push: true, sms: false },
      createdAt: T0,
      updatedAt: T0,
    });
  });

  it("keeps the given preference channels and defaults the others", () => {
    const user = newUser({ email: "b@x.test", name: "B", preferences: { sms: true } }, "u2", T0);
    expect(user.preferences).toEqual({ email: true, push: true, sms: true });
    expect("phone" in user).toBe(false);
  });
});

describe("applyUpdate", () => {
  it("reports nothing changed when the values are the same (email compared case-insensitively)", () => {
    const outcome = applyUpdate(
      base(),
      { email: "ANN@example.com", name: "Ann", preferences: { sms: false } },
      T1,
    );
    expect(outcome.changed).toEqual([]);
    expect(outcome.user.updatedAt).toBe(T0);
  });

  it("applies the given fields, lists them as changed and stamps updatedAt", () => {
    const outcome = applyUpdate(base(), { email: "new@x.test", phone: "+44 20 7946 0000" }, T1);
    expect(outcome.changed).toEqual(["email", "phone"]);
    expect(outcome.user).toMatchObject({
      email: "new@x.test",
      phone: "+44 20 7946 0000",
      updatedAt: T1,
      createdAt: T0,
    });
  });

  it("merges partial preferences into the current ones", () => {
    const outcome = applyUpdate(base(), { preferences: { push: false } }, T1);
    expect(outcome.changed).toEqual(["preferences"]);
    expect(outcome.user.preferences).toEqual({ email: true, push: false, sms: false });
  });

  it("does not mutate the current user", () => {
    const current = base();
    applyUpdate(current, { name: "Other", preferences: { email: false } }, T1);
    expect(current).toEqual(base());
  });
});

describe("decideValidation", () => {
  it("answers valid for an active user", () => {
    expect(decideValidation("o1", "u1", "active")).toEqual({ orderId: "o1", userId: "u1", valid: true });
  });

  it("tells a deleted user from an unknown one", () => {
    expect(decideValidation("o1", "u1", "deleted")).toMatchObject({ valid: false, reason: "deleted" });
    expect(decideValidation("o1", "u1", "missing")).toMatchObject({ valid: false, reason: "not_found" });
  });
});

describe("event payloads", () => {
  // A stand-in for UserDataCipher.seal that shows what was sealed, for whom.
  const seal = (userId: string, field: string, value: string) => `sealed(${userId},${field},${value})`;

  it("carry the profile under userId with the email and phone sealed, the record's version, and the changed fields on updates", () => {
    const user = base();
    expect(createdPayload(user, seal)).toEqual({
      userId: "u1",
      email: "sealed(u1,email,ann@example.com)",
      name: "Ann",
      phone: "sealed(u1,phone,+1 555 0100)",
      preferences: { email: true, push: true, sms: false },
      version: 1,
    });
    expect(updatedPayload(user, ["name"], seal, 7)).toMatchObject({ changed: ["name"], version: 7 });
    expect(createdPayload({ ...user, phone: undefined }, seal)).not.toHaveProperty("phone");
  });
});
