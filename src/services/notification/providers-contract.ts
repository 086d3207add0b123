/**
 * The simulated channel providers' behaviour, whatever keeps their idempotency ledger: run by
 * providers.test.ts (memory) and providers.redis.test.ts (Redis), one suite for both adapters.
 */
import { describe, expect, it } from "vitest";
import {
  type ProviderRequest,
  type SendLedger,
  SimulatedProviders,
  type SimulatedProvidersOptions,
} from "./providers.js";

export const request = (over: Partial<ProviderRequest> = {}): ProviderRequest => ({
  notificationId: "n1",
  channel: "email",
  to: "ann@x.test",
  subject: "Hi",
  text: "Hello",
  ...over,
});

export function runSimulatedProvidersContract(
  name: string,
  ledger: () => SendLedger | Promise<SendLedger>,
): void {
  describe(`SimulatedProviders (${name} ledger)`, () => {
    const make = async (options: Omit<SimulatedProvidersOptions, "ledger"> = {}) =>
      new SimulatedProviders({ ...options, ledger: await ledger() });

    it("accepts and records a message once per notification id", async () => {
      const providers = await make({ now: () => 42 });
      expect(await providers.send(request())).toEqual({ status: "accepted" });
      expect(await providers.send(request())).toEqual({ status: "accepted" });
      expect(providers.sent()).toEqual([{ ...request(), acceptedAt: 42 }]);
    });

    it("bounces @bounce.test emails permanently, the same way on a repeat", async () => {
      const providers = await make();
      const bounce = request({ to: "x@Bounce.test" });
      expect(await providers.send(bounce)).toMatchObject({ status: "rejected" });
      expect(await providers.send(bounce)).toMatchObject({ status: "rejected" });
      expect(providers.sent()).toEqual([]);
    });

    it("fails @flaky.test emails transiently on the first try only", async () => {
      const providers = await make();
      const flaky = request({ to: "x@flaky.test" });
      await expect(providers.send(flaky)).rejects.toMatchObject({
        code: "PROVIDER_UNAVAILABLE",
        retryable: true,
      });
      expect(await providers.send(flaky)).toEqual({ status: "accepted" });
      expect(providers.sent()).toHaveLength(1);
    });

    it("rejects SMS to numbers ending in 0000 and accepts push", async () => {
      const providers = await make();
      expect(await providers.send(request({ channel: "sms", to: "+1 555 000-0000" }))).toMatchObject({
        status: "rejected",
      });
      expect(await providers.send(request({ notificationId: "n2", channel: "push", to: "u1" }))).toEqual({
        status: "accepted",
      });
    });
  });
}
