/**
 * The provider client's breaker counts only provider-level failures: a timeout whose retrieve-by-key
 * got an answer proves the provider reachable (money-break F1).
 */
import { describe, expect, it } from "vitest";
import { TimeoutError } from "../../lib/resilience/index.js";
import { ProviderError, SimulatedPaymentProvider } from "./provider.js";
import { createProviderClient, OutcomeUnknownError } from "./provider-client.js";

const charge = (idempotencyKey: string, token: string) => ({
  idempotencyKey,
  amount: 500,
  currency: "USD",
  token,
});

describe("payment provider client", () => {
  it("timeouts the provider answers for by retrieve (tok_timeout) never open the shared breaker", async () => {
    const client = createProviderClient({
      provider: new SimulatedPaymentProvider(),
      timeoutMs: 30,
      failureThreshold: 5,
      retrieveBackoffMs: 5,
    });
    for (let i = 0; i < 8; i++) {
      await expect(client.charge(charge(`to-${i}`, "tok_timeout"))).rejects.toBeInstanceOf(TimeoutError);
    }
    expect(client.breaker.state).toBe("CLOSED");
    await expect(client.charge(charge("ok-1", "tok_ok"))).resolves.toMatchObject({ amount: 500 });
  });

  it("a half-open trial that is a card's own timeout closes the breaker instead of re-opening it", async () => {
    let now = 1_000_000;
    const provider = new SimulatedPaymentProvider({ now: () => now });
    const client = createProviderClient({
      provider,
      monotonicNow: () => now,
      timeoutMs: 30,
      failureThreshold: 2,
      openMs: 10_000,
      retrieveTries: 1,
      retrieveBackoffMs: 5,
    });
    await provider.ledger.setUnavailableUntil(now + 5_000);
    for (const key of ["down-1", "down-2"]) {
      await expect(client.charge(charge(key, "tok_ok"))).rejects.toBeInstanceOf(ProviderError);
    }
    expect(client.breaker.state).toBe("OPEN");
    now += 10_000; // outage over, open time spent: the next call is the trial
    await expect(client.charge(charge("trial-1", "tok_timeout"))).rejects.toBeInstanceOf(TimeoutError);
    expect(client.breaker.state).toBe("CLOSED");
    await expect(client.charge(charge("ok-2", "tok_ok"))).resolves.toMatchObject({ amount: 500 });
  });

  it("keeps asking while the provider answers 'in progress', and reports the late commit as the charge", async () => {
    const client = createProviderClient({
      provider: new SimulatedPaymentProvider({ lateCommitMs: 400 }),
      timeoutMs: 50,
      retrieveTries: 6,
      retrieveBackoffMs: 20,
    });
    await expect(client.charge(charge("slow-1", "tok_late_commit"))).resolves.toMatchObject({
      amount: 500,
      replayed: true,
    });
    expect(client.breaker.state).toBe("CLOSED");
  });

  it("reports an outcome still in progress as unknown (retryable), never as 'not charged', and not as an outage", async () => {
    const provider = new SimulatedPaymentProvider({ lateCommitMs: 5_000 });
    const client = createProviderClient({
      provider,
      timeoutMs: 30,
      failureThreshold: 1,
      retrieveTries: 2,
      retrieveBackoffMs: 5,
    });
    const error = await client.charge(charge("slow-2", "tok_late_commit")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect(error).toMatchObject({ providerAnswered: true, retryable: true });
    await expect(client.voidCharge("slow-2")).rejects.toBeInstanceOf(OutcomeUnknownError);
    expect(client.breaker.state).toBe("CLOSED");
  });
});
