/**
 * The orphan-charge reconciler over real Redis (break12 F2): a charge the provider holds for an
 * order with no payment record (the order lost with Redis's last writes while the charge was in
 * flight) is voided and given back once older than the grace period; the record is written first,
 * so a handler that charged and stalled past the grace, then writes its record, finds it and
 * publishes no `payment.processed`. A charge younger than the grace is left alone. Time is the
 * test's clock (the provider dates its charges on it): no sleeps.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { silentLogger } from "../../lib/bus/context.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { tokenKeyStoreOf, tokenOpenerFromEnv, tokenSealerFromEnv } from "../../lib/security/payment-token.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createPaymentHandlers, type HandlerContext, ORPHAN_CHARGE_REASON } from "./handlers.js";
import { SimulatedPaymentProvider } from "./provider.js";
import { createProviderClient, type ProviderClient } from "./provider-client.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";
import { RedisPaymentStore } from "./redis-store.js";
import {
  OrphanChargeReconciler,
  type OrphanChargeReconcilerOptions,
  RedisOrphanScanCursor,
} from "./orphan-charges.js";
import { orphanScanCursorKey } from "./keys.js";
import { mismatchOf } from "./reconciliation.js";
import { refund, request } from "./test-harness.js";

const GRACE_MS = 10 * 60_000;

describeWithRedis("orphan charges: voided past the grace period, the record first", (getRedis) => {
  let platform: Platform;
  let clock = Date.now();
  const now = () => clock;

  beforeAll(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
  });
  afterAll(() => platform?.close());

  /**
   * One payment instance: its store, provider client, handlers and orphan reconciler (`reconcilerWith`
   * builds another over the same parts with other options); `hold` stalls it after a charge.
   */
  function instance(hold?: Promise<void>) {
    const redis = platform.redis!;
    const store = new RedisPaymentStore(redis);
    const ledger = new RedisProviderLedger(redis);
    const simulated = new SimulatedPaymentProvider({ ledger, now });
    const client = createProviderClient({ provider: simulated });
    // The charge is at the provider; the process stalls before it writes its record.
    const stalling: ProviderClient = {
      ...client,
      charge: async (...args) => {
        const result = await client.charge(...args);
        await hold;
        return result;
      },
    };
    const handlers = createPaymentHandlers({
      store,
      provider: stalling,
      now,
      newId: randomUUID,
      tokens: tokenOpenerFromEnv(tokenKeyStoreOf(platform)),
    });
    const reconcilerWith = (options: Partial<OrphanChargeReconcilerOptions> = {}) =>
      new OrphanChargeReconciler({
        provider: client,
        store,
        voidOrphanCharge: handlers.voidOrphanCharge,
        now,
        graceMs: GRACE_MS,
        ...options,
      });
    return { store, ledger, simulated, client, handlers, reconciler: reconcilerWith(), reconcilerWith };
  }

  /**
   * An order's payment handled by an instance that stalls once its charge is at the provider (before
   * it writes its record), beside another instance; `release` lets it go on.
   */
  async function stalledCharge() {
    const orderId = randomUUID();
    let release!: () => void;
    const stalled = instance(new Promise<void>((r) => (release = r)));
    const other = instance();
    const sealed = await tokenSealerFromEnv(tokenKeyStoreOf(platform)).seal(orderId, "tok_ok");
    const handling = stalled.handlers.paymentRequested(request(orderId, sealed), ctxOf(publisher()));
    const charged = await waitFor(
      async () => (await stalled.ledger.get("charge", orderId))?.status === "approved",
      10_000,
      "the charge at the provider",
    );
    return { orderId, stalled, other, handling, release, charged };
  }

  const publisher = () =>
    new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "payment", instance: "orphan-test" },
    });
  const ctxOf = (p: Publisher<typeof AllEvents>): HandlerContext => ({
    prepare: (event, payload, options) => p.prepare(event, payload, options),
    publish: (event, payload, options) => p.publish(event, payload, options),
    logger: silentLogger,
  });
  const entriesAbout = async (event: string, orderId: string) =>
    (await platform.redis!.xrange(eventStreamKey("payment", event), "-", "+")).filter(([, fields]) =>
      fields.some((f) => f.includes(orderId)),
    ).length;

  it("a stalled handler's charge is voided and given back; the handler then publishes no payment.processed", async () => {
    const { orderId, stalled, other, handling, release, charged } = await stalledCharge();
    expect(charged).toBe(true);
    expect(await stalled.store.get(orderId)).toBeUndefined();

    // Younger than the grace: left alone.
    const young = await other.reconciler.pass();
    expect(young).toMatchObject({ voided: 0 });
    expect(await other.store.get(orderId)).toBeUndefined();

    clock += GRACE_MS + 60_000;
    expect(await other.reconciler.pass()).toMatchObject({ voided: 1 });
    const voided = await other.store.get(orderId);
    expect(voided).toMatchObject({ status: "voided", reason: ORPHAN_CHARGE_REASON, amount: 4200 });
    expect(voided?.refundId).toBeDefined();
    expect(await other.ledger.get("refund", `refund:${orderId}`)).toMatchObject({
      status: "approved",
      amount: 4200,
    });

    // The stalled handler wakes: its record write finds the tombstone.
    release();
    await handling;
    expect(await entriesAbout("payment.processed", orderId)).toBe(0);
    expect(await other.store.get(orderId)).toMatchObject({ status: "voided", refundId: voided?.refundId });
    expect(
      (await other.ledger.list("refund")).filter((r) => r.idempotencyKey === `refund:${orderId}`),
    ).toHaveLength(1);
    // A later pass changes nothing; the reconciliation lists it, given back.
    expect(await other.reconciler.pass()).toMatchObject({ voided: 0 });
    const row = {
      orderId,
      record: await other.store.get(orderId),
      charge: await other.ledger.get("charge", orderId),
      refund: await other.ledger.get("refund", `refund:${orderId}`),
      outcome: undefined,
      failedAttempts: 0,
    };
    expect(mismatchOf(row)).toMatch(/^orphan charge .*voided and given back/);
  }, 60_000);

  // break16 F5: both payment instances stalled past the grace with the charge made; the saga failed
  // the order at its payment deadline and queued the refund. The orphan pass voided the charge and
  // reported a lost order (error log, orphan metric, reconciliation "its order was lost"), though the
  // order existed and its outcome was known. The money was right (one refund) and must stay so.
  it("a stalled handler's charge for an order that failed meanwhile is refunded once, and not reported as a lost order", async () => {
    const { orderId, other, handling, release } = await stalledCharge();
    await other.store.recordOutcome(orderId, "failed");
    clock += GRACE_MS + 60_000;
    const lost: string[] = [];
    const ended: string[] = [];
    const reconciler = other.reconcilerWith({
      onVoided: (charge) => lost.push(charge.idempotencyKey),
      onEndedOrderVoided: (charge, outcome) => ended.push(`${charge.idempotencyKey} ${outcome}`),
    });
    await reconciler.pass();
    // The saga's queued refund, then the stalled handler, run once the instances resume.
    await other.handlers.refundRequested(refund(orderId), ctxOf(publisher()));
    release();
    await handling;
    expect(lost).not.toContain(orderId);
    expect(ended).toEqual([`${orderId} failed`]);
    expect(await entriesAbout("payment.processed", orderId)).toBe(0);
    expect(
      (await other.ledger.list("refund")).filter((r) => r.idempotencyKey === `refund:${orderId}`),
    ).toEqual([expect.objectContaining({ status: "approved", amount: 4200 })]);
    const row = {
      orderId,
      record: await other.store.get(orderId),
      charge: await other.ledger.get("charge", orderId),
      refund: await other.ledger.get("refund", `refund:${orderId}`),
      outcome: await other.store.outcome(orderId),
      failedAttempts: 0,
    };
    expect(mismatchOf(row)).toBeUndefined();
  }, 60_000);

  it("a charge with no record and no handler (the order lost) is voided once past the grace, not before", async () => {
    const orderId = randomUUID();
    const { simulated, store, ledger, reconciler } = instance();
    await simulated.charge({ idempotencyKey: orderId, amount: 1005, currency: "USD", token: "tok_ok" });
    expect(await reconciler.pass()).toMatchObject({ voided: 0 });
    expect(await store.get(orderId)).toBeUndefined();
    expect(await ledger.get("refund", `refund:${orderId}`)).toBeUndefined();
    clock += GRACE_MS + 60_000;
    const [a, b] = await Promise.all([reconciler.pass(), instance().reconciler.pass()]);
    expect(a.voided + b.voided).toBe(1);
    expect(await store.get(orderId)).toMatchObject({ status: "voided", reason: ORPHAN_CHARGE_REASON });
    expect(await ledger.get("refund", `refund:${orderId}`)).toMatchObject({
      status: "approved",
      amount: 1005,
    });
  }, 60_000);
  it("an orphan whose give-back an outage stopped after its record is counted once, and given back by a later pass (break15 F3)", async () => {
    const orderId = randomUUID();
    const { simulated, store, ledger, handlers, reconcilerWith } = instance();
    await simulated.charge({ idempotencyKey: orderId, amount: 5000, currency: "USD", token: "tok_ok" });
    // The provider browns out right after the `voided` record is written.
    let brownout = true;
    const storeWithBrownout = Object.create(store) as RedisPaymentStore;
    storeWithBrownout.commit = async (...args: Parameters<RedisPaymentStore["commit"]>) => {
      const ok = await store.commit(...args);
      if (ok && brownout && args[0].status === "voided") {
        brownout = false;
        await ledger.setUnavailableUntil(clock + 5_000);
      }
      return ok;
    };
    const voided: string[] = [];
    const givenBack: string[] = [];
    const reconciler = reconcilerWith({
      voidOrphanCharge: (id, onTombstone) =>
        id === orderId
          ? createPaymentHandlers({
              store: storeWithBrownout,
              provider: createProviderClient({ provider: simulated }),
              now,
              newId: randomUUID,
              tokens: tokenOpenerFromEnv(tokenKeyStoreOf(platform)),
            }).voidOrphanCharge(id, onTombstone)
          : handlers.voidOrphanCharge(id, onTombstone),
      onVoided: (c) => voided.push(c.idempotencyKey),
      onGivenBack: (c) => givenBack.push(c.idempotencyKey),
    });
    clock += GRACE_MS + 60_000;
    const first = await reconciler.pass();
    expect(first.stoppedBy).toBeDefined();
    expect(await store.get(orderId)).toMatchObject({ status: "voided", reason: ORPHAN_CHARGE_REASON });
    expect(await ledger.get("refund", `refund:${orderId}`)).toBeUndefined();

    clock += 60_000; // the brownout is over
    expect((await reconciler.pass()).stoppedBy).toBeUndefined();
    expect((await store.get(orderId))?.refundId).toBeDefined();
    expect(await ledger.get("refund", `refund:${orderId}`)).toMatchObject({
      status: "approved",
      amount: 5000,
    });
    // Counted (metric, error log) once, and its give-back logged.
    expect(voided.filter((id) => id === orderId)).toHaveLength(1);
    expect(givenBack.filter((id) => id === orderId)).toHaveLength(1);
    await reconciler.pass();
    expect(voided.filter((id) => id === orderId)).toHaveLength(1);
  }, 60_000);
  /** A reconciler as the service builds it: its cursor in Redis (a new one = a restarted process). */
  function process(maxPerPass: number) {
    const parts = instance();
    const reconciler = parts.reconcilerWith({
      cursor: new RedisOrphanScanCursor(platform.redis!),
      lookbackMs: 2 * 60_000,
      maxPerPass,
    });
    return { ...parts, reconciler };
  }

  /** A charge at the provider with no payment record: its order was lost. Returns the order's id. */
  async function orphanCharge(parts: ReturnType<typeof instance>, amount: number): Promise<string> {
    const orderId = randomUUID();
    await parts.simulated.charge({ idempotencyKey: orderId, amount, currency: "USD", token: "tok_ok" });
    return orderId;
  }

  /** A paid order: a charge and its captured record (settled: the pass leaves it alone). */
  async function paid(parts: ReturnType<typeof instance>): Promise<void> {
    const orderId = randomUUID();
    const charge = await parts.simulated.charge({
      idempotencyKey: orderId,
      amount: 100,
      currency: "USD",
      token: "tok_ok",
    });
    const at = new Date(clock).toISOString();
    await parts.store.commit(
      {
        orderId,
        status: "captured",
        amount: 100,
        currency: "USD",
        providerChargeId: charge.chargeId,
        createdAt: at,
        updatedAt: at,
      },
      null,
      [],
    );
  }

  it("the pass resumes after a restart where the instances reached, not from the first charge (break15 F1)", async () => {
    await getRedis().flush();
    const first = process(100);
    for (let i = 0; i < 300; i++) {
      await paid(first);
      clock += 10;
    }
    const orphan = await orphanCharge(first, 700);
    clock += GRACE_MS + 60_000;
    // A backlog is caught up over passes, maxPerPass at a time.
    const passes = [];
    for (let i = 0; i < 4; i++) passes.push(await first.reconciler.pass());
    expect(passes.slice(0, 3).map((p) => p.checked)).toEqual([100, 100, 100]);
    // The rest (charges of the cursor's own millisecond are looked at again, harmlessly).
    expect(passes[3]!.checked).toBeLessThan(10);
    expect(passes.map((p) => p.voided)).toEqual([0, 0, 0, 1]);
    expect(await first.store.get(orphan)).toMatchObject({ status: "voided", reason: ORPHAN_CHARGE_REASON });

    // A restart (a new process: nothing in memory), then a lost order's charge.
    const restarted = process(100);
    const later = await orphanCharge(restarted, 800);
    clock += GRACE_MS + 60_000;
    const pass = await restarted.reconciler.pass();
    expect(pass).toMatchObject({ voided: 1 });
    expect(pass.checked).toBeLessThan(100);
    expect(await restarted.ledger.get("refund", `refund:${later}`)).toMatchObject({
      status: "approved",
      amount: 800,
    });
  }, 120_000);

  it("more charges of one millisecond than a pass's budget are all examined over passes and restarts, not re-read for ever (orphan10)", async () => {
    await getRedis().flush();
    const first = process(100);
    // 250 charges of one millisecond (Redis lists them by key within it): every 25th an orphan.
    const orphans: string[] = [];
    for (let i = 0; i < 250; i++) {
      if (i % 25 === 0) orphans.push(await orphanCharge(first, 300));
      else await paid(first);
    }
    clock += GRACE_MS + 60_000;
    const checked: number[] = [];
    let caughtUp = false;
    // A new process each pass (a restart): the position, skip included, is in Redis.
    for (let i = 0; i < 5 && !caughtUp; i++) {
      const pass = await process(100).reconciler.pass();
      checked.push(pass.checked);
      caughtUp = pass.caughtUp;
    }
    expect(checked).toEqual([100, 100, 50]);
    for (const orderId of orphans)
      expect(await first.store.get(orderId)).toMatchObject({
        status: "voided",
        reason: ORPHAN_CHARGE_REASON,
      });
  }, 120_000);

  it("the position's skip counts only while its time is the cursor's: a cursor an older instance set alone re-reads its millisecond (orphan10)", async () => {
    await getRedis().flush();
    const redis = platform.redis!;
    const cursor = new RedisOrphanScanCursor(redis);
    expect(await cursor.get()).toBeUndefined();
    await cursor.set({ createdAtMs: 5_000, skip: 3 });
    expect(await cursor.get()).toEqual({ createdAtMs: 5_000, skip: 3 });
    expect(await redis.get(orphanScanCursorKey())).toBe("5000");
    // An instance that knows no skip moves the cursor on.
    await redis.set(orphanScanCursorKey(), "7000");
    expect(await cursor.get()).toEqual({ createdAtMs: 7_000, skip: 0 });
  });

  it("a charge dated after a backward step of the clock, below where the passes reached, is voided (break15 F5)", async () => {
    await getRedis().flush();
    const running = process(2_000);
    const stepBack = clock;
    clock += 24 * 3_600_000; // the shared clock (Redis's TIME) a day ahead
    for (let i = 0; i < 3; i++) {
      await paid(running);
      clock += 1_000;
    }
    clock += GRACE_MS + 60_000;
    expect(await running.reconciler.pass()).toMatchObject({ checked: 3, voided: 0 });

    clock = stepBack; // NTP steps it back: a lost order's charge is dated before those
    const orphan = await orphanCharge(running, 6000);
    // Passes every minute on the stepped clock.
    let voided = 0;
    for (let i = 0; i < 15 && voided === 0; i++) {
      clock += 60_000;
      voided += (await running.reconciler.pass()).voided;
    }
    expect(voided).toBe(1);
    expect(await running.store.get(orphan)).toMatchObject({ status: "voided", reason: ORPHAN_CHARGE_REASON });
    expect(await running.ledger.get("refund", `refund:${orphan}`)).toMatchObject({
      status: "approved",
      amount: 6000,
    });
  }, 120_000);
});
