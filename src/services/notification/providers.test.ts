import { describe, expect, it } from "vitest";
import { type ProviderRequest, SimulatedProviders } from "./providers.js";

const request = (over: Partial<ProviderRequest> = {}): ProviderRequest => ({
  notificationId: "n1",
  channel: "email",
  to: "ann@x.test",
  subject: "Hi",
  text: "Hello",
  ...over,
});

describe("SimulatedProviders", () => {
  it("accepts and records a message once per notification id", async () => {
    const providers = new SimulatedProviders({ now: () => 42 });
    expect(await providers.send(request())).toEqual({ status: "accepted" });
    expect(await providers.send(request())).toEqual({ status: "accepted" });
    expect(providers.sent()).toEqual([{ ...request(), acceptedAt: 42 }]);
  });

  it("remembers only the most recent ids and messages, so a long run holds a bounded heap", async () => {
    const providers = new SimulatedProviders({ capacity: 10, keepSent: 5, now: () => 1 });
    for (let n = 0; n < 50; n++) await providers.send(request({ notificationId: `n${n}` }));
    expect(providers.sent().map((m) => m.notificationId)).toEqual(["n45", "n46", "n47", "n48", "n49"]);
    await providers.send(request({ notificationId: "n49" }));
    expect(providers.sent()).toHaveLength(5);
    expect(providers.sent().at(-1)?.notificationId).toBe("n49");
    // An id older than the last `capacity` is forgotten: sent again, as a provider past its
    // idempotency window would (the notification service dedupes in its own store first).
    await providers.send(request({ notificationId: "n0" }));
    expect(providers.sent().at(-1)?.notificationId).toBe("n0");
  });

  it("bounces @bounce.test emails permanently, the same way on a repeat", async () => {
    const providers = new SimulatedProviders();
    const bounce = request({ to: "x@Bounce.test" });
    expect(await providers.send(bounce)).toMatchObject({ status: "rejected" });
    expect(await providers.send(bounce)).toMatchObject({ status: "rejected" });
    expect(providers.sent()).toEqual([]);
  });

  it("fails @flaky.test emails transiently on the first try only", async () => {
    const providers = new SimulatedProviders();
    const flaky = request({ to: "x@flaky.test" });
    await expect(providers.send(flaky)).rejects.toMatchObject({
      code: "PROVIDER_UNAVAILABLE",
      retryable: true,
    });
    expect(await providers.send(flaky)).toEqual({ status: "accepted" });
    expect(providers.sent()).toHaveLength(1);
  });

  it("rejects SMS to numbers ending in 0000 and accepts push", async () => {
    const providers = new SimulatedProviders();
    expect(await providers.send(request({ channel: "sms", to: "+1 555 000-0000" }))).toMatchObject({
      status: "rejected",
    });
    expect(await providers.send(request({ notificationId: "n2", channel: "push", to: "u1" }))).toEqual({
      status: "accepted",
    });
  });
});
