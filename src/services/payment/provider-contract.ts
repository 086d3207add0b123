/**
 * The simulated provider's documented behaviour, run over each ledger adapter (memory and Redis), so
 * the token table and the idempotency promises hold whichever storage the provider uses.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ProviderError, type ProviderLedger, SimulatedPaymentProvider } from "./provider.js";

const key = () => `order-${randomUUID()}`;
const request = (token: string, idempotencyKey = key()) => ({
  idempotencyKey,
  amount: 1250,
  currency: "USD",
  token,
});

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(error)}`);
  return error;
}

async function waitForEntry<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("no ledger entry");
}

export function runProviderContract(name: string, ledgerFactory: () => ProviderLedger): void {
  describe(`simulated payment provider (${name} ledger)`, () => {
    const provider = () => new SimulatedPaymentProvider({ ledger: ledgerFactory() });

    it("approves tok_ok with a charge id and a fingerprint that does not contain the token", async () => {
      const charge = await provider().charge(request("tok_ok"));
      expect(charge.chargeId).toMatch(/^ch_/);
      expect(charge.fingerprint).toMatch(/^fp_[0-9a-f]+$/);
      expect(charge.replayed).toBe(false);
    });

    it("answers request_in_progress for a charge while a call with its key is in flight, and charges once it ends", async () => {
      const ledger = ledgerFactory();
      const p = new SimulatedPaymentProvider({ ledger });
      const r = request("tok_ok");
      expect(await ledger.beginCall("charge", r.idempotencyKey, 60_000)).toBe(true);
      await expect(providerError(p.charge(r))).resolves.toMatchObject({
        code: "request_in_progress",
        transient: true,
      });
      expect(await ledger.get("charge", r.idempotencyKey)).toBeUndefined();
      await ledger.endCall("charge", r.idempotencyKey);
      await expect(p.charge(r)).resolves.toMatchObject({ replayed: false, amount: 1250 });
    });

    it("approves any other tok_ token", async () => {
      await expect(provider().charge(request("tok_visa_gold"))).resolves.toMatchObject({ amount: 1250 });
    });

    it("declines tok_decline permanently, and replays the decline for the same key", async () => {
      const p = provider();
      const r = request("tok_decline");
      const first = await providerError(p.charge(r));
      expect(first).toMatchObject({ code: "card_declined", transient: false });
      await expect(providerError(p.charge({ ...r, token: "tok_ok" }))).resolves.toMatchObject({
        code: "card_declined",
      });
    });

    it("fails tok_error transiently on every call", async () => {
      const p = provider();
      const r = request("tok_error");
      for (let i = 0; i < 3; i++) {
        await expect(providerError(p.charge(r))).resolves.toMatchObject({
          code: "processing_error",
          transient: true,
        });
      }
    });

    it("fails tok_flaky on the first call of a key, then approves", async () => {
      const p = provider();
      const r = request("tok_flaky");
      await expect(providerError(p.charge(r))).resolves.toMatchObject({ transient: true });
      await expect(p.charge(r)).resolves.toMatchObject({ replayed: false });
      await expect(providerError(p.charge(request("tok_flaky")))).resolves.toMatchObject({ transient: true });
    });

    it("never answers tok_timeout until the caller aborts", async () => {
      const controller = new AbortController();
      const call = provider().charge(request("tok_timeout"), controller.signal);
      const pending = Symbol("pending");
      const early = await Promise.race([call, new Promise((r) => setTimeout(() => r(pending), 20))]);
      expect(early).toBe(pending);
      controller.abort(new Error("gave up"));
      await expect(call).rejects.toThrow("gave up");
    });

    it("commits tok_late at once but answers late; retrieve by key tells what happened", async () => {
      const p = new SimulatedPaymentProvider({ ledger: ledgerFactory(), lateAnswerMs: 60_000 });
      const r = request("tok_late");
      const controller = new AbortController();
      const call = p.charge(r, controller.signal);
      // "In progress" until the commit: asked again, like a client does.
      const entry = await waitForEntry(() => p.retrieve("charge", r.idempotencyKey).catch(() => undefined));
      expect(entry).toMatchObject({ status: "approved", amount: 1250 });
      controller.abort(new Error("client timeout"));
      await expect(call).rejects.toThrow("client timeout");
      expect(await p.retrieve("charge", key())).toBeUndefined();
    });

    it("answers request_in_progress for a tok_late_commit key until its slow commit lands, then the charge", async () => {
      const p = new SimulatedPaymentProvider({ ledger: ledgerFactory(), lateCommitMs: 300 });
      const r = request("tok_late_commit");
      const controller = new AbortController();
      const call = p.charge(r, controller.signal);
      await waitForEntry(async () =>
        (await p.ledger.inFlight("charge", r.idempotencyKey)) ? true : undefined,
      );
      // The client gives up: the provider's processing goes on.
      controller.abort(new Error("client timeout"));
      await expect(call).rejects.toThrow("client timeout");
      await expect(providerError(p.retrieve("charge", r.idempotencyKey))).resolves.toMatchObject({
        code: "request_in_progress",
        transient: true,
      });
      // A second call with the key while the first is processed: in progress, not a second charge.
      await expect(providerError(p.charge(r))).resolves.toMatchObject({ code: "request_in_progress" });
      const entry = await waitForEntry(() => p.retrieve("charge", r.idempotencyKey).catch(() => undefined));
      expect(entry).toMatchObject({ status: "approved", amount: 1250 });
      expect(await p.ledger.inFlight("charge", r.idempotencyKey)).toBe(false);
    });

    it("ends a tok_timeout call's in-flight mark when its caller goes away: nothing taken", async () => {
      const p = provider();
      const r = request("tok_timeout");
      const controller = new AbortController();
      const call = p.charge(r, controller.signal);
      await waitForEntry(async () =>
        (await p.ledger.inFlight("charge", r.idempotencyKey)) ? true : undefined,
      );
      controller.abort(new Error("client timeout"));
      await expect(call).rejects.toThrow("client timeout");
      await waitForEntry(async () =>
        (await p.ledger.inFlight("charge", r.idempotencyKey)) ? undefined : true,
      );
      expect(await p.retrieve("charge", r.idempotencyKey)).toBeUndefined();
    });

    it("moves no money for a tok_late_commit whose commit lands after its key was voided: charge_voided", async () => {
      let reached = (): void => undefined;
      const holding = new Promise<void>((resolve) => (reached = resolve));
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const p = new SimulatedPaymentProvider({
        ledger: ledgerFactory(),
        processingDelay: () => {
          reached();
          return held;
        },
      });
      const r = request("tok_late_commit");
      const late = p.charge(r);
      late.catch(() => undefined);
      await holding;
      // Voiding while the call is processed waits for its outcome.
      await expect(providerError(p.voidCharge(r.idempotencyKey))).resolves.toMatchObject({
        code: "request_in_progress",
      });
      // The processing outlives its in-flight lease (a provider process frozen mid-call).
      await p.ledger.endCall("charge", r.idempotencyKey);
      expect(await p.retrieve("charge", r.idempotencyKey)).toBeUndefined();
      const tombstone = await p.voidCharge(r.idempotencyKey);
      expect(tombstone).toMatchObject({ status: "voided", amount: 0, id: expect.stringMatching(/^vo_/) });
      await expect(p.voidCharge(r.idempotencyKey)).resolves.toEqual(tombstone);
      release();
      await expect(providerError(late)).resolves.toMatchObject({ code: "charge_voided", transient: false });
      expect(await p.ledger.get("charge", r.idempotencyKey)).toEqual(tombstone);
      // Any later charge with the key, instant or slow, is refused the same way.
      await expect(providerError(p.charge({ ...r, token: "tok_ok" }))).resolves.toMatchObject({
        code: "charge_voided",
      });
    });

    it("answers a void of a key that holds a charge with the charge, and stores no tombstone", async () => {
      const p = provider();
      const r = request("tok_ok");
      const charge = await p.charge(r);
      await expect(p.voidCharge(r.idempotencyKey)).resolves.toMatchObject({
        id: charge.chargeId,
        status: "approved",
        amount: 1250,
      });
      await expect(p.charge(r)).resolves.toMatchObject({ chargeId: charge.chargeId, replayed: true });
    });

    it("fails every call with provider_unavailable during an outage window, then recovers", async () => {
      let now = 1_000;
      const p = new SimulatedPaymentProvider({ ledger: ledgerFactory(), now: () => now });
      await p.ledger.setUnavailableUntil(2_000);
      const r = request("tok_ok");
      await expect(providerError(p.charge(r))).resolves.toMatchObject({ code: "provider_unavailable" });
      await expect(providerError(p.retrieve("charge", r.idempotencyKey))).resolves.toMatchObject({
        code: "provider_unavailable",
      });
      now = 2_000;
      await expect(p.charge(r)).resolves.toMatchObject({ replayed: false });
    });

    it("charges once for one idempotency key and replays the first charge", async () => {
      const p = provider();
      const r = request("tok_ok");
      const first = await p.charge(r);
      const second = await p.charge({ ...r, amount: 9999 });
      expect(second).toEqual({ ...first, replayed: true });
      const entry = await p.ledger.get("charge", r.idempotencyKey);
      expect(entry).toMatchObject({ id: first.chargeId, amount: 1250, status: "approved" });
      expect(JSON.stringify(entry)).not.toContain("tok_");
    });

    it("refunds once for one idempotency key", async () => {
      const p = provider();
      const charge = await p.charge(request("tok_ok"));
      const refundRequest = {
        idempotencyKey: `refund:${randomUUID()}`,
        chargeId: charge.chargeId,
        amount: 1250,
        currency: "USD",
      };
      const first = await p.refund(refundRequest);
      const second = await p.refund(refundRequest);
      expect(first.refundId).toMatch(/^re_/);
      expect(second).toEqual({ ...first, replayed: true });
    });

    it("lists the charges created in a time range, oldest first, paged within it", async () => {
      let clock = Date.UTC(2030, 0, 1) + Math.floor(Math.random() * 1e9);
      const base = clock;
      const p = new SimulatedPaymentProvider({ ledger: ledgerFactory(), now: () => clock });
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = request("tok_ok");
        keys.push(r.idempotencyKey);
        await p.charge(r);
        clock += 1_000;
      }
      const range = { fromMs: base + 1_000, toMs: base + 3_000 };
      const page = (offset: number, limit: number) => p.list("charge", { offset, limit, ...range });
      expect((await page(0, 10)).map((e) => e.idempotencyKey)).toEqual(keys.slice(1, 4));
      expect((await page(1, 1)).map((e) => e.idempotencyKey)).toEqual([keys[2]]);
    });

    it("refuses to refund a charge it does not know", async () => {
      const error = await providerError(
        provider().refund({ idempotencyKey: key(), chargeId: "ch_nope", amount: 1, currency: "USD" }),
      );
      expect(error).toMatchObject({ code: "unknown_charge", transient: false });
    });
  });
}
