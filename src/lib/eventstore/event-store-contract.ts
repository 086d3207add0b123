/**
 * The behaviour every EventStore adapter shares, run by each adapter's test file with its factory.
 * Uses a toy counter aggregate; knows nothing of any service.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { OutgoingMessage } from "../bus/transport.js";
import { ConcurrencyError, EventStoreError, InvalidReadError } from "./errors.js";
import type { EventStore, NewEvent, StoredEvent } from "./event-store.js";

export interface EventStoreFixture {
  store: EventStore;
  /** `n` stores over the same data, each with its own connection where the adapter has one. */
  peers(n: number): EventStore[];
  /** Bodies of the messages that reached the event stream of (owner, topic), oldest first. */
  delivered(owner: string, topic: string): Promise<string[]>;
}

export type EventStoreFactory = (options: { tag: string; now: () => number }) => Promise<EventStoreFixture>;

const TAG = "toy";
const T0 = Date.parse("2024-05-01T10:00:00.000Z");

const added = (amount: number, metadata?: Record<string, string>): NewEvent => ({
  type: "counter.added",
  data: { amount, tags: [], nested: { list: [1, "two", null] } },
  ...(metadata ? { metadata } : {}),
});

const message = (id: string, owner = TAG): OutgoingMessage => ({
  topic: "counter.changed",
  owner,
  id,
  body: id,
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

export function runEventStoreContract(name: string, factory: EventStoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    let clock = T0;
    let fixture: EventStoreFixture;
    let store: EventStore;

    beforeEach(async () => {
      clock = T0;
      fixture = await factory({ tag: TAG, now: () => clock });
      store = fixture.store;
    });

    it("reads back appended events with versions, positions, metadata and the clock's time", async () => {
      const result = await store.append("c-1", [added(1, { correlationId: "corr-1" }), added(2)], {
        expectedVersion: "no_stream",
      });
      const events = await store.read("c-1");
      expect(result.nextVersion).toBe(2);
      expect(events.map((e) => e.globalPosition)).toEqual(result.positions);
      expect(events[0]).toEqual({
        streamId: "c-1",
        version: 1,
        globalPosition: result.positions[0],
        type: "counter.added",
        data: { amount: 1, tags: [], nested: { list: [1, "two", null] } },
        metadata: { correlationId: "corr-1" },
        recordedAt: new Date(T0).toISOString(),
        appendId: result.appendId,
      });
      expect(events[1]).toMatchObject({ version: 2, metadata: {}, data: { amount: 2 } });
    });

    it("stores one append id with every event of an append, another one per append", async () => {
      const first = await store.append("c-1", [added(1), added(2)], { expectedVersion: "no_stream" });
      const second = await store.append("c-1", [added(3)], { expectedVersion: 2 });
      const other = await store.append("c-2", [added(4)], { expectedVersion: "no_stream" });
      expect(first.appendId).toMatch(/^[\w-]{22}$/);
      expect(new Set([first.appendId, second.appendId, other.appendId]).size).toBe(3);
      expect((await store.read("c-1")).map((e) => e.appendId)).toEqual([
        first.appendId,
        first.appendId,
        second.appendId,
      ]);
      expect((await store.readAll()).map((e) => e.appendId)).toEqual([
        first.appendId,
        first.appendId,
        second.appendId,
        other.appendId,
      ]);
    });

    it("reports version 0 for an unknown stream and the event count after appends", async () => {
      expect(await store.version("missing")).toBe(0);
      expect(await store.read("missing")).toEqual([]);
      await store.append("c-1", [added(1)], { expectedVersion: 0 });
      await store.append("c-1", [added(2), added(3)], { expectedVersion: 1 });
      expect(await store.version("c-1")).toBe(3);
    });

    it("rejects a stale expected version with ConcurrencyError and writes nothing", async () => {
      await store.append("c-1", [added(1), added(2)], { expectedVersion: "no_stream" });
      const error = await rejection(store.append("c-1", [added(3)], { expectedVersion: 1 }));
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ code: "CONCURRENCY_CONFLICT", expected: 1, actual: 2, retryable: true });
      expect(await store.version("c-1")).toBe(2);
      expect(await store.readAll()).toHaveLength(2);
    });

    it("hands a stale expected version the events it missed, as read, and none to a version ahead", async () => {
      await store.append("c-1", [added(1)], { expectedVersion: "no_stream" });
      await store.append("c-1", [added(2), added(3, { correlationId: "corr-3" })], { expectedVersion: 1 });
      const stale = await rejection(store.append("c-1", [added(4)], { expectedVersion: 1 }));
      expect(stale).toBeInstanceOf(ConcurrencyError);
      expect((stale as ConcurrencyError).missed).toEqual(await store.read("c-1", { fromVersion: 2 }));
      const ahead = await rejection(store.append("c-1", [added(4)], { expectedVersion: 5 }));
      expect(ahead).toMatchObject({ actual: 3, missed: undefined });
      const created = await rejection(store.append("c-1", [added(4)], { expectedVersion: "no_stream" }));
      expect(created).toMatchObject({ actual: 3, missed: undefined });
    });

    it("refuses an append whose expected last event is not the one stored at the expected version", async () => {
      await store.append("c-1", [added(1), added(2)], { expectedVersion: "no_stream" });
      const [, stored] = await store.read("c-1");
      if (!stored) throw new Error("no event 2");
      const { globalPosition, type, recordedAt } = stored;
      const others = [
        { globalPosition: "9999999999999999", type, recordedAt },
        { globalPosition, type: "counter.removed", recordedAt },
        { globalPosition, type, recordedAt: new Date(T0 + 1).toISOString() },
      ];
      for (const expectedLast of others) {
        const error = await rejection(store.append("c-1", [added(3)], { expectedVersion: 2, expectedLast }));
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ expected: 2, actual: 2, missed: undefined });
      }
      expect(await store.version("c-1")).toBe(2);
      // The stored one, or parts left unknown: accepted.
      const unknown = { globalPosition: undefined, type, recordedAt: undefined };
      await store.append("c-1", [added(3)], {
        expectedVersion: 2,
        expectedLast: { globalPosition, type, recordedAt },
      });
      const [third] = await store.read("c-1", { fromVersion: 3 });
      await store.append("c-1", [added(4)], {
        expectedVersion: 3,
        expectedLast: { ...unknown, type: third?.type ?? "" },
      });
      expect(await store.version("c-1")).toBe(4);
    });

    it("hands no catch-up to a stale writer whose expected last event is not the stream's (break31 F1)", async () => {
      await store.append("c-1", [added(1), added(2), added(3)], { expectedVersion: "no_stream" });
      const [, second] = await store.read("c-1");
      if (!second) throw new Error("no event 2");
      // A writer that decided on event 2 as stored: the events after it are its catch-up.
      const mark = {
        globalPosition: second.globalPosition,
        type: second.type,
        recordedAt: second.recordedAt,
      };
      const same = await rejection(
        store.append("c-1", [added(4)], { expectedVersion: 2, expectedLast: mark }),
      );
      expect((same as ConcurrencyError).missed).toEqual(await store.read("c-1", { fromVersion: 3 }));
      // One that decided on another event 2 (lost by the store, then replaced by another writer's,
      // followed by more): what follows version 2 is not its history, nothing to fold.
      const other = { ...mark, globalPosition: "9999999999999999" };
      const stale = await rejection(
        store.append("c-1", [added(4)], { expectedVersion: 2, expectedLast: other }),
      );
      expect(stale).toBeInstanceOf(ConcurrencyError);
      expect(stale).toMatchObject({ expected: 2, actual: 3, missed: undefined });
      expect(await store.version("c-1")).toBe(3);
    });

    it("refuses an expected last event with the stored one's position, type and time but another append id, handing no catch-up (break33 F1)", async () => {
      // What a store that lost its last writes (its position counter with them) looks like to the
      // writer of the lost event, when another writer appended in its place at the same clamped time.
      const appended = await store.append("c-1", [added(1), added(2)], { expectedVersion: "no_stream" });
      const [, second] = await store.read("c-1");
      if (!second) throw new Error("no event 2");
      const stored = {
        globalPosition: second.globalPosition,
        type: second.type,
        recordedAt: second.recordedAt,
        appendId: appended.appendId,
      };
      const lost = { ...stored, appendId: "lost-append-id-0000000" };
      const atVersion = await rejection(
        store.append("c-1", [added(3)], { expectedVersion: 2, expectedLast: lost }),
      );
      expect(atVersion).toBeInstanceOf(ConcurrencyError);
      expect(atVersion).toMatchObject({ expected: 2, actual: 2, missed: undefined });
      expect(await store.version("c-1")).toBe(2);
      // The stored one's id: accepted; then a writer still at version 2 gets its catch-up only if
      // the event there is its own.
      await store.append("c-1", [added(3)], { expectedVersion: 2, expectedLast: stored });
      const behind = await rejection(
        store.append("c-1", [added(4)], { expectedVersion: 2, expectedLast: lost }),
      );
      expect(behind).toBeInstanceOf(ConcurrencyError);
      expect(behind).toMatchObject({ expected: 2, actual: 3, missed: undefined });
      const own = await rejection(
        store.append("c-1", [added(4)], { expectedVersion: 2, expectedLast: stored }),
      );
      expect((own as ConcurrencyError).missed).toEqual(await store.read("c-1", { fromVersion: 3 }));
      expect(await store.version("c-1")).toBe(3);
    });

    it("compares the expected last event's own fields, not look-alikes in its data or metadata", async () => {
      await store.append("c-1", [added(1)], { expectedVersion: "no_stream" });
      const [first] = await store.read("c-1");
      if (!first) throw new Error("no event 1");
      // The last event differs in every mark, but carries the expected ones inside its body.
      const expected = {
        globalPosition: first.globalPosition,
        type: "counter.reset",
        recordedAt: first.recordedAt,
      };
      const mimic: NewEvent = {
        type: "counter.added",
        data: {
          amount: 2,
          echo: {
            type: expected.type,
            globalPosition: expected.globalPosition,
            appendId: "echoed-append-id-00000",
          },
        },
        metadata: { recordedAt: expected.recordedAt },
      };
      await store.append("c-1", [mimic], { expectedVersion: 1, recordedAt: T0 + 5 });
      const [, second] = await store.read("c-1");
      expect(second).toMatchObject({ type: "counter.added", recordedAt: new Date(T0 + 5).toISOString() });

      const error = await rejection(
        store.append("c-1", [added(3)], { expectedVersion: 2, expectedLast: expected }),
      );
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(await store.version("c-1")).toBe(2);
      // A type that is a prefix of the stored one is another type.
      const prefix = {
        globalPosition: second?.globalPosition,
        type: "counter.add",
        recordedAt: second?.recordedAt,
      };
      await expect(
        store.append("c-1", [added(3)], { expectedVersion: 2, expectedLast: prefix }),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      // An append id found only in its data is not its append's.
      const echoed = { ...prefix, type: "counter.added", appendId: "echoed-append-id-00000" };
      await expect(
        store.append("c-1", [added(3)], { expectedVersion: 2, expectedLast: echoed }),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await store.version("c-1")).toBe(2);
    });

    it("rejects no_stream on an existing stream and accepts any", async () => {
      await store.append("c-1", [added(1)], { expectedVersion: "no_stream" });
      const error = await rejection(store.append("c-1", [added(2)], { expectedVersion: "no_stream" }));
      expect(error).toMatchObject({ code: "CONCURRENCY_CONFLICT", expected: "no_stream", actual: 1 });
      const result = await store.append("c-1", [added(3)], { expectedVersion: "any" });
      expect(result.nextVersion).toBe(2);
    });

    it("lets exactly one of 20 concurrent appends at the same version win", async () => {
      await store.append("c-1", [added(0)], { expectedVersion: "no_stream" });
      const peers = fixture.peers(20);
      const outcomes = await Promise.allSettled(
        peers.map((peer, i) =>
          peer.append("c-1", [added(100 + i)], { expectedVersion: 1, outbox: [message(`m-${i}`)] }),
        ),
      );
      const winners = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [i] : []));
      const losers = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(19);
      for (const loser of losers) expect(loser).toBeInstanceOf(ConcurrencyError);
      const events = await store.read("c-1");
      expect(events.map((e) => e.data)).toEqual([
        expect.objectContaining({ amount: 0 }),
        expect.objectContaining({ amount: 100 + (winners[0] ?? -1) }),
      ]);
      expect(await fixture.delivered(TAG, "counter.changed")).toEqual([`m-${winners[0]}`]);
    });

    it("reads a range of versions", async () => {
      await store.append(
        "c-1",
        [1, 2, 3, 4, 5].map((n) => added(n)),
        { expectedVersion: "no_stream" },
      );
      const from3 = await store.read("c-1", { fromVersion: 3 });
      expect(from3.map((e) => e.version)).toEqual([3, 4, 5]);
      const middle = await store.read("c-1", { fromVersion: 2, toVersion: 3 });
      expect(middle.map((e) => e.version)).toEqual([2, 3]);
      expect(await store.read("c-1", { fromVersion: 6 })).toEqual([]);
    });

    it("reads the stream as it was at a past time with asOf", async () => {
      await store.append("c-1", [added(1)], { expectedVersion: 0 });
      clock = T0 + 60_000;
      await store.append("c-1", [added(2), added(3)], { expectedVersion: 1 });
      clock = T0 + 120_000;
      await store.append("c-1", [added(4)], { expectedVersion: 3 });
      const versionsAsOf = async (ms: number) =>
        (await store.read("c-1", { asOf: new Date(ms) })).map((e) => e.version);
      expect(await versionsAsOf(T0 - 1)).toEqual([]);
      expect(await versionsAsOf(T0)).toEqual([1]);
      expect(await versionsAsOf(T0 + 60_000)).toEqual([1, 2, 3]);
      expect(await versionsAsOf(T0 + 119_999)).toEqual([1, 2, 3]);
      expect(await versionsAsOf(T0 + 500_000)).toEqual([1, 2, 3, 4]);
    });

    it("refuses an asOf that is not a valid Date instead of returning the present (break42 F3)", async () => {
      await store.append("c-1", [added(1), added(2)], { expectedVersion: "no_stream" });
      const bad: unknown[] = [new Date("garbage"), new Date(Number.NaN), "2024-05-01", T0, null, {}];
      for (const asOf of bad) {
        const error = await rejection(store.read("c-1", { asOf: asOf as Date }));
        expect(error, String(asOf)).toBeInstanceOf(InvalidReadError);
      }
      // Also where the range alone would answer [] without touching storage.
      const empty = await rejection(store.read("c-1", { fromVersion: 2, toVersion: 1, asOf: new Date("x") }));
      expect(empty).toBeInstanceOf(InvalidReadError);
      expect(await rejection(store.read("none", { asOf: new Date("x") }))).toBeInstanceOf(InvalidReadError);
      expect((await store.read("c-1", { asOf: undefined })).map((e) => e.version)).toEqual([1, 2]);
    });

    it("returns all streams' events in global order, page by page", async () => {
      await store.append("a", [added(1)], { expectedVersion: "no_stream" });
      await store.append("b", [added(2), added(3)], { expectedVersion: "no_stream" });
      await store.append("a", [added(4)], { expectedVersion: 1 });
      const all = await store.readAll({ limit: 10 });
      expect(all.map((e) => `${e.streamId}${e.version}`)).toEqual(["a1", "b1", "b2", "a2"]);
      const positions = all.map((e) => e.globalPosition);
      expect([...positions].sort()).toEqual(positions);
      expect(new Set(positions).size).toBe(4);
      const first = await store.readAll({ limit: 3 });
      const rest = await store.readAll({ after: first.at(-1)?.globalPosition, limit: 3 });
      expect([...first, ...rest]).toEqual(all);
      expect(await store.readAll({ after: all.at(-1)?.globalPosition })).toEqual([]);
    });

    it("pages through the global order at any page size, also inside one append's events", async () => {
      await store.append("a", [added(1), added(2), added(3)], { expectedVersion: "no_stream" });
      await store.append("b", [added(4)], { expectedVersion: "no_stream" });
      await store.append("a", [added(5), added(6)], { expectedVersion: 3 });
      const all = await store.readAll();
      expect(all.map((e) => e.data)).toEqual(
        [1, 2, 3, 4, 5, 6].map((n) => expect.objectContaining({ amount: n })),
      );
      for (const limit of [1, 2, 4, 5]) {
        const pages: StoredEvent[] = [];
        for (let page = await store.readAll({ limit }); page.length > 0;) {
          expect(page.length).toBeLessThanOrEqual(limit);
          pages.push(...page);
          page = await store.readAll({ after: page.at(-1)?.globalPosition, limit });
        }
        expect(pages).toEqual(all);
      }
      expect(await store.readAll({ after: all[1]?.globalPosition, limit: 1 })).toEqual([all[2]]);
    });

    it("delivers outbox messages with a successful append and none with a conflicting one", async () => {
      await store.append("c-1", [added(1)], { expectedVersion: "no_stream", outbox: [message("m-1")] });
      await rejection(store.append("c-1", [added(2)], { expectedVersion: 0, outbox: [message("m-2")] }));
      await store.append("c-1", [added(3)], { expectedVersion: 1, outbox: [message("m-3"), message("m-4")] });
      expect(await fixture.delivered(TAG, "counter.changed")).toEqual(["m-1", "m-3", "m-4"]);
    });

    it("refuses outbox messages of another owner before writing anything", async () => {
      const error = await rejection(
        store.append("c-1", [added(1)], { expectedVersion: "any", outbox: [message("m-1", "other")] }),
      );
      expect(error).toMatchObject({ code: "OUTBOX_CROSS_SLOT" });
      expect(await store.version("c-1")).toBe(0);
      expect(await fixture.delivered("other", "counter.changed")).toEqual([]);
    });

    it("refuses an append without events or with a negative expected version", async () => {
      const empty = await rejection(store.append("c-1", [], { expectedVersion: "any" }));
      expect(empty).toBeInstanceOf(EventStoreError);
      expect(empty).toMatchObject({ code: "INVALID_APPEND" });
      const negative = await rejection(store.append("c-1", [added(1)], { expectedVersion: -1 }));
      expect(negative).toMatchObject({ code: "INVALID_APPEND" });
      expect(await store.version("c-1")).toBe(0);
    });
  });
}
