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
