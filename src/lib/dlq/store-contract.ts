/**
 * The one behaviour suite every `DeadLetterStore` adapter must pass. Run it from each adapter's
 * test file: `runDeadLetterStoreContract("memory", async () => new MemoryDeadLetterStore())`.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { waitFor } from "../../test-support/wait.js";
import type { DeadLetterRecord, DeadLetterStore } from "./dead-letter-store.js";

/** A complete record at minute `minute` of a fixed day, so tests order records by time. */
export function sampleDeadLetter(
  id: string,
  minute: number,
  overrides: Partial<DeadLetterRecord> = {},
): DeadLetterRecord {
  const deadLetteredAt = new Date(Date.UTC(2025, 0, 1, 12, minute)).toISOString();
  return {
    id,
    group: "inventory",
    topic: "order.created",
    owner: "order",
    deliveryId: `1735732800000-${minute}`,
    body: JSON.stringify({ id: `env-${id}`, event: "order.created", payload: { orderId: id } }),
    envelopeId: `env-${id}`,
    event: "order.created",
    sourceService: "order",
    reason: "handler kept failing",
    attempts: [
      { attempt: 1, at: deadLetteredAt, durationMs: 12.5, error: { name: "Error", message: "boom" } },
      {
        attempt: 2,
        at: deadLetteredAt,
        durationMs: 3,
        error: { name: "BusError", message: "still boom", code: "DOWNSTREAM" },
      },
    ],
    deadLetteredAt,
    status: "dead",
    retries: 0,
    ...overrides,
  };
}

const at = (minute: number): string => new Date(Date.UTC(2025, 0, 1, 12, minute)).toISOString();

/** Options every adapter takes, so the suite can exercise them. */
export interface DeadLetterStoreContractOptions {
  /** Audit entries appended longer ago than this (ms, on the store's clock, not their `at`) are dropped. */
  auditRetentionMs?: number;
}

export function runDeadLetterStoreContract(
  name: string,
  factory: (options?: DeadLetterStoreContractOptions) => Promise<DeadLetterStore>,
): void {
  describe(`DeadLetterStore contract: ${name}`, () => {
    let store: DeadLetterStore;
    beforeEach(async () => {
      store = await factory();
    });

    const ids = (records: readonly DeadLetterRecord[]) => records.map((r) => r.id);

    async function addAll(...records: DeadLetterRecord[]): Promise<void> {
      for (const record of records) expect(await store.add(record)).toBe(true);
    }

    it("returns an added record unchanged, with every attempt", async () => {
      const record = sampleDeadLetter("a", 1);
      await store.add(record);
      expect(await store.get("a")).toEqual(record);
    });

    it("keeps a record without the decoded fields and with no attempts", async () => {
      const { envelopeId: _e, event: _v, sourceService: _s, ...rest } = sampleDeadLetter("raw", 1);
      const record: DeadLetterRecord = { ...rest, body: "not json {", attempts: [] };
      await store.add(record);
      expect(await store.get("raw")).toEqual(record);
    });

    it("answers undefined for an unknown id", async () => {
      expect(await store.get("missing")).toBeUndefined();
    });

    it("keeps the first record when the same id is added twice", async () => {
      expect(await store.add(sampleDeadLetter("a", 1))).toBe(true);
      expect(await store.add(sampleDeadLetter("a", 2, { reason: "second time" }))).toBe(false);
      expect((await store.get("a"))?.reason).toBe("handler kept failing");
      expect(ids(await store.list())).toEqual(["a"]);
    });

    it("lists newest first", async () => {
      await addAll(sampleDeadLetter("b", 2), sampleDeadLetter("c", 3), sampleDeadLetter("a", 1));
      expect(ids(await store.list())).toEqual(["c", "b", "a"]);
    });

    it("filters by event, group, source service and status", async () => {
      await addAll(
        sampleDeadLetter("a", 1),
        sampleDeadLetter("b", 2, { event: "payment.failed", sourceService: "payment" }),
        sampleDeadLetter("c", 3, { group: "shipping" }),
        sampleDeadLetter("d", 4, { status: "archived" }),
      );
      expect(ids(await store.list({ event: "payment.failed" }))).toEqual(["b"]);
      expect(ids(await store.list({ group: "shipping" }))).toEqual(["c"]);
      expect(ids(await store.list({ sourceService: "order" }))).toEqual(["d", "c", "a"]);
      expect(ids(await store.list({ status: "archived" }))).toEqual(["d"]);
      expect(ids(await store.list({ group: "inventory", status: "dead" }))).toEqual(["b", "a"]);
    });

    it("filters a malformed record (no decoded fields) by its topic and owning service", async () => {
      const { envelopeId: _e, event: _v, sourceService: _s, ...rest } = sampleDeadLetter("raw", 1);
      await addAll(
        { ...rest, topic: "payment.processed", owner: "payment", body: "not json {" },
        sampleDeadLetter("a", 2),
      );
      expect(ids(await store.list({ event: "payment.processed" }))).toEqual(["raw"]);
      expect(ids(await store.list({ sourceService: "payment" }))).toEqual(["raw"]);
      expect(ids(await store.list({ event: "order.created" }))).toEqual(["a"]);
    });

    it("filters by an inclusive time range", async () => {
      await addAll(...[1, 2, 3, 4, 5].map((m) => sampleDeadLetter(`r${m}`, m)));
      expect(ids(await store.list({ from: at(2), to: at(4) }))).toEqual(["r4", "r3", "r2"]);
      expect(ids(await store.list({ from: at(4) }))).toEqual(["r5", "r4"]);
      expect(ids(await store.list({ to: at(1) }))).toEqual(["r1"]);
    });

    it("limits after filtering, keeping the newest", async () => {
      await addAll(
        ...[1, 2, 3, 4, 5, 6, 7].map((m) =>
          sampleDeadLetter(`r${m}`, m, { group: m % 2 === 0 ? "even" : "odd" }),
        ),
      );
      expect(ids(await store.list({ limit: 2 }))).toEqual(["r7", "r6"]);
      expect(ids(await store.list({ group: "even", limit: 2 }))).toEqual(["r6", "r4"]);
      expect(ids(await store.list({ group: "odd", to: at(5), limit: 10 }))).toEqual(["r5", "r3", "r1"]);
      expect(await store.list({ limit: 0 })).toEqual([]);
    });

    it("hands out copies: changing a returned record does not change the store", async () => {
      await store.add(sampleDeadLetter("a", 1));
      const [listed] = await store.list();
      listed!.attempts.length = 0;
      listed!.status = "archived";
      expect(await store.get("a")).toEqual(sampleDeadLetter("a", 1));
    });

    it("updates status and retries, or status alone", async () => {
      await store.add(sampleDeadLetter("a", 1));
      expect(await store.update("a", { status: "retried", retries: 2 })).toBe(true);
      expect(await store.get("a")).toMatchObject({ status: "retried", retries: 2 });
      expect(await store.update("a", { status: "archived" })).toBe(true);
      expect(await store.get("a")).toMatchObject({ status: "archived", retries: 2 });
      expect(ids(await store.list({ status: "archived" }))).toEqual(["a"]);
    });

    it("does not create a record when updating an unknown id", async () => {
      expect(await store.update("missing", { status: "retried", retries: 1 })).toBe(false);
      expect(await store.get("missing")).toBeUndefined();
      expect(await store.list()).toEqual([]);
    });

    it("marks retried only from the retry count read: a compare-and-set per record (break13 F1)", async () => {
      await addAll(
        sampleDeadLetter("a", 1),
        sampleDeadLetter("b", 2, { retries: 3 }),
        sampleDeadLetter("c", 3),
      );
      await store.update("c", { status: "archived" });
      expect(
        await store.markRetried([
          { id: "a", fromRetries: 0 },
          { id: "a", fromRetries: 0 },
          { id: "b", fromRetries: 2 },
          { id: "c", fromRetries: 0 },
          { id: "missing", fromRetries: 0 },
        ]),
      ).toEqual(["retried", "conflict", "conflict", "archived", "missing"]);
      expect(await store.get("a")).toMatchObject({ status: "retried", retries: 1 });
      expect(await store.get("b")).toMatchObject({ status: "dead", retries: 3 });
      // Archived meanwhile: the replay is counted, and the record stays archived.
      expect(await store.get("c")).toMatchObject({ status: "archived", retries: 1 });
      expect(await store.get("missing")).toBeUndefined();
      expect(await store.markRetried([{ id: "a", fromRetries: 1 }])).toEqual(["retried"]);
      expect(await store.get("a")).toMatchObject({ status: "retried", retries: 2 });
      expect(await store.markRetried([])).toEqual([]);
    });

    it("claims every accepted replay: a mark of the same replay finding the record purged after it conflicts (break29 F2)", async () => {
      await addAll(sampleDeadLetter("a", 1), sampleDeadLetter("b", 2));
      // Two retries of "a" read retries 0 and sent replay a#1: the first marks it, then a purge.
      expect(await store.markRetried([{ id: "a", fromRetries: 0 }])).toEqual(["retried"]);
      expect(
        await store.purge([{ audit: { at: at(9), recordId: "a", action: "purged", actor: "ops" } }]),
      ).toEqual([true]);
      // The second finds the record gone: its replay was the one already accepted.
      expect(await store.markRetried([{ id: "a", fromRetries: 0 }])).toEqual(["conflict"]);
      // A later retry that read retries 1 sent another replay (a#2): that one is accepted.
      expect(await store.markRetried([{ id: "a", fromRetries: 1 }])).toEqual(["missing"]);
      expect(await store.markRetried([{ id: "a", fromRetries: 1 }])).toEqual(["conflict"]);
      // Purged before any mark: the first mark of the replay is accepted, as before.
      await store.purge([{ audit: { at: at(9), recordId: "b", action: "purged", actor: "ops" } }]);
      expect(await store.markRetried([{ id: "b", fromRetries: 0 }])).toEqual(["missing"]);
    });

    it("writes a mark's audit entry with the mark, none for a conflict (break29 F3)", async () => {
      await addAll(sampleDeadLetter("a", 1), sampleDeadLetter("c", 3));
      await store.update("c", { status: "archived" });
      const entry = (id: string, detail: string) => ({
        at: at(5),
        recordId: id,
        action: "retried" as const,
        actor: "ops",
        detail,
      });
      const mark = (id: string, fromRetries: number) => ({
        id,
        fromRetries,
        audit: entry(id, "accepted"),
        auditIfPurged: entry(id, "purged meanwhile"),
      });
      expect(await store.markRetried([mark("a", 0), mark("a", 0), mark("c", 0), mark("gone", 0)])).toEqual([
        "retried",
        "conflict",
        "archived",
        "missing",
      ]);
      expect(await store.audit("a")).toEqual([entry("a", "accepted")]);
      expect(await store.audit("c")).toEqual([entry("c", "accepted")]);
      expect(await store.audit("gone")).toEqual([entry("gone", "purged meanwhile")]);
      expect(await store.markRetried([mark("gone", 0)])).toEqual(["conflict"]);
      expect(await store.audit("gone")).toHaveLength(1);
      // An update with an entry: both, or (no record) neither.
      const archived = { at: at(6), recordId: "a", action: "archived" as const, actor: "ops" };
      expect(await store.update("a", { status: "archived" }, archived)).toBe(true);
      expect(await store.audit("a")).toEqual([entry("a", "accepted"), archived]);
      expect(await store.update("none", { status: "archived" }, { ...archived, recordId: "none" })).toBe(
        false,
      );
      expect(await store.audit("none")).toEqual([]);
    });

    it("removes records and counts only those that existed", async () => {
      await addAll(sampleDeadLetter("a", 1), sampleDeadLetter("b", 2), sampleDeadLetter("c", 3));
      expect(await store.remove(["a", "c", "missing"])).toBe(2);
      expect(await store.get("a")).toBeUndefined();
      expect(ids(await store.list())).toEqual(["b"]);
      expect(await store.remove([])).toBe(0);
    });

    it("purges a record only while its own date and status are as read, auditing only what it deletes (break25 F2)", async () => {
      await addAll(sampleDeadLetter("a", 1), sampleDeadLetter("b", 2), sampleDeadLetter("c", 3));
      await store.update("b", { status: "retried", retries: 1 });
      const purged = (id: string) => ({ at: at(9), recordId: id, action: "purged" as const, actor: "ops" });
      expect(
        await store.purge([
          { audit: purged("a"), expect: { deadLetteredAt: at(1), status: "dead" } },
          { audit: purged("b"), expect: { deadLetteredAt: at(2), status: "dead" } },
          { audit: purged("c"), expect: { deadLetteredAt: at(0) } },
          { audit: purged("missing") },
        ]),
      ).toEqual([true, false, false, false]);
      expect(ids(await store.list())).toEqual(["c", "b"]);
      expect((await store.audit()).map((e) => e.recordId)).toEqual(["a"]);
      expect(await store.purge([{ audit: purged("c") }])).toEqual([true]);
      expect(ids(await store.list())).toEqual(["b"]);
      expect(await store.purge([])).toEqual([]);
    });

    it("lets a removed id be added again", async () => {
      await store.add(sampleDeadLetter("a", 1));
      await store.remove(["a"]);
      expect(await store.add(sampleDeadLetter("a", 2))).toBe(true);
      expect((await store.get("a"))?.deadLetteredAt).toBe(at(2));
    });

    it("reads the audit trail oldest first, whole or for one record", async () => {
      await store.appendAudit({ at: at(1), recordId: "a", action: "dead-lettered", actor: "inventory-1" });
      await store.appendAudit({ at: at(2), recordId: "b", action: "dead-lettered", actor: "inventory-2" });
      await store.appendAudit({ at: at(3), recordId: "a", action: "retried", actor: "ops", detail: "fixed" });
      await store.appendAudit({ at: at(4), recordId: "a", action: "purged", actor: "ops" });
      expect((await store.audit()).map((e) => `${e.recordId}:${e.action}`)).toEqual([
        "a:dead-lettered",
        "b:dead-lettered",
        "a:retried",
        "a:purged",
      ]);
      expect(await store.audit("a")).toEqual([
        { at: at(1), recordId: "a", action: "dead-lettered", actor: "inventory-1" },
        { at: at(3), recordId: "a", action: "retried", actor: "ops", detail: "fixed" },
        { at: at(4), recordId: "a", action: "purged", actor: "ops" },
      ]);
      expect(await store.audit("nobody")).toEqual([]);
    });

    it("forgets audit entries appended longer ago than the window, in the whole trail and per record", async () => {
      const windowMs = 300;
      const bounded = await factory({ auditRetentionMs: windowMs });
      // `at` is what the writer says; the window runs on the store's clock, so a year-old `at` is kept.
      await bounded.appendAudit({ at: at(1), recordId: "a", action: "dead-lettered", actor: "c" });
      await bounded.appendAudit({ at: at(2), recordId: "b", action: "dead-lettered", actor: "c" });
      const appended = Date.now();
      expect((await bounded.audit("a")).map((e) => e.action)).toEqual(["dead-lettered"]);
      await waitFor(() => Date.now() > appended + windowMs + 50, 10_000, "the window to pass");
      await bounded.appendAudit({ at: at(0), recordId: "c", action: "dead-lettered", actor: "c" });
      await bounded.appendAudit({ at: at(0), recordId: "b", action: "retried", actor: "ops" });
      expect((await bounded.audit()).map((e) => `${e.recordId}:${e.action}`)).toEqual([
        "c:dead-lettered",
        "b:retried",
      ]);
      expect((await bounded.audit("b")).map((e) => e.action)).toEqual(["retried"]);
      expect(await bounded.audit("a")).toEqual([]);
    });

    it("keeps the recent trail when one writer's clock runs ahead", async () => {
      const bounded = await factory({ auditRetentionMs: 60_000 });
      const now = Date.now();
      for (let i = 0; i < 10; i++)
        await bounded.appendAudit({
          at: new Date(now - 30_000 + i * 1000).toISOString(),
          recordId: "a",
          action: "retried",
          actor: "ops",
        });
      // One gateway whose clock is 2 minutes ahead (break-11 F1 erased the ten entries above).
      await bounded.appendAudit({
        at: new Date(now + 120_000).toISOString(),
        recordId: "a",
        action: "archived",
        actor: "ops",
      });
      expect(await bounded.audit()).toHaveLength(11);
      expect(await bounded.audit("a")).toHaveLength(11);
    });
  });
}
