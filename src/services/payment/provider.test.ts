import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cardFingerprintKey, generateTokenKeys } from "../../lib/security/payment-token.js";
import { fingerprintToken, MemoryProviderLedger, SimulatedPaymentProvider } from "./provider.js";
import { runProviderContract } from "./provider-contract.js";

runProviderContract("memory", () => new MemoryProviderLedger());

describe("card fingerprints (break44 F4)", () => {
  const charge = (provider: SimulatedPaymentProvider, key: string) =>
    provider.charge({ idempotencyKey: key, amount: 100, currency: "USD", token: "tok_ok" });

  it("are keyed: stable under one key, different under another, and not the token's unkeyed hash", async () => {
    const key = randomBytes(32);
    const a = await charge(new SimulatedPaymentProvider({ fingerprintKey: key }), "k-a");
    const b = await charge(new SimulatedPaymentProvider({ fingerprintKey: key }), "k-b");
    const other = await charge(new SimulatedPaymentProvider({ fingerprintKey: randomBytes(32) }), "k-c");
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(other.fingerprint).not.toBe(a.fingerprint);
    // What anyone holding Redis could compute before: sha256("ordersaga:" + token).
    const unkeyed = `fp_${createHash("sha256").update("ordersaga:tok_ok").digest("hex").slice(0, 24)}`;
    expect(a.fingerprint).not.toBe(unkeyed);
    expect(a.fingerprint).toBe(fingerprintToken("tok_ok", key));
  });

  it("the payment service's key is derived from its current token key: the same for every instance of a deployment", () => {
    const env = { ...generateTokenKeys("pay-1"), NODE_ENV: "production" };
    expect(cardFingerprintKey(env)).toEqual(cardFingerprintKey({ ...env }));
    expect(cardFingerprintKey(env)).not.toEqual(
      cardFingerprintKey({ ...generateTokenKeys("pay-1"), NODE_ENV: "production" }),
    );
  });
});
