/**
 * What a retry or an archive racing a purge of the same record answers and audits (break14 F1, F2),
 * run against each store adapter: the purge lands between the operation's read and its write.
 * Contract: every accepted retry is one replay and one audit entry (the replay was sent, so the
 * retry is accepted even though the record is gone); an archive of a record purged first answers
 * DLQ_NOT_FOUND and audits nothing.
 */
import { describe, expect, it } from "vitest";
import type { Replay } from "../bus/transport.js";
import { DeadLetterQueue, PURGED_MEANWHILE_NOTE } from "./dead-letter-queue.js";
import type { DeadLetterStore } from "./dead-letter-store.js";
import { sampleDeadLetter } from "./store-contract.js";

/** A store with no records and an empty audit trail. */
export type EmptyStoreFactory = () => Promise<DeadLetterStore>;

const outcomeOf = (promise: Promise<{ status: string }>): Promise<string> =>
  promise.then(
    (r) => `ok ${r.status}`,
    (e: unknown) => String((e as { code?: unknown }).code ?? e),
  );

export function runPurgeRaceContract(name: string, emptyStore: EmptyStoreFactory): void {
  describe(`DLQ operations racing a purge (${name})`, () => {
    /** A queue whose transport purges each record while its replay is on the way. */
    function purgingOnSend(store: DeadLetterStore) {
      const sent: string[] = [];
      const queue: DeadLetterQueue = new DeadLetterQueue({
        store,
        redeliver: async () => {
          throw new Error("redeliverOnce expected");
        },
        redeliverOnce: async (_group: string, replays: readonly Replay[]) => {
          sent.push(...replays.map((r) => r.replayId));
          await queue.purge(
            replays.map((r) => r.replayId.slice(0, r.replayId.lastIndexOf("#"))),
            { actor: "bob" },
          );
          return replays.length;
        },
      });
      return { queue, sent };
    }

    const trail = async (store: DeadLetterStore, id: string) =>
      (await store.audit(id)).map((e) => `${e.action}:${e.actor}:${e.detail ?? ""}`);

    it("a retry whose record is purged while its replay is sent is accepted and audited once", async () => {
      const store = await emptyStore();
      await store.add(sampleDeadLetter("a", 1));
      const { queue, sent } = purgingOnSend(store);

      const outcome = await outcomeOf(queue.retry("a", { actor: "alice", detail: "INC-1" }));

      expect({ outcome, sent }).toEqual({ outcome: "ok retried", sent: ["a#1"] });
      expect(await store.get("a")).toBeUndefined();
      expect(await trail(store, "a")).toEqual([
        "purged:bob:",
        `retried:alice:INC-1 (${PURGED_MEANWHILE_NOTE})`,
      ]);
    });

    it("a bulk retry by ids reports records purged while sent as retried, each audited once", async () => {
      const store = await emptyStore();
      await store.add(sampleDeadLetter("a", 1));
      await store.add(sampleDeadLetter("b", 2));
      const { queue, sent } = purgingOnSend(store);

      const result = await queue.retryMany(["a", "b"], { actor: "alice" });

      expect({ result, sent }).toEqual({ result: { retried: ["a", "b"], failed: [] }, sent: ["a#1", "b#1"] });
      for (const id of ["a", "b"])
        expect(await trail(store, id)).toEqual(["purged:bob:", `retried:alice:${PURGED_MEANWHILE_NOTE}`]);
    });

    it("a bulk retry by filter reports a record purged while sent as retried and audits it", async () => {
      const store = await emptyStore();
      await store.add(sampleDeadLetter("a", 1));
      const { queue, sent } = purgingOnSend(store);

      const result = await queue.retryMany({}, { actor: "alice" });

      expect({ result, sent }).toEqual({ result: { retried: ["a"], failed: [] }, sent: ["a#1"] });
      expect(await trail(store, "a")).toEqual(["purged:bob:", `retried:alice:${PURGED_MEANWHILE_NOTE}`]);
    });

    /**
     * Two retries (or bulk retries) of one record that read the same retry count; their replays are
     * held until both were sent, then the record is purged, then both mark it (break14 F1 follow-up:
     * both found it missing and both were accepted and audited: two accepted retries, one replay).
     */
    async function twoRetriesRacingAPurge(
      start: (queue: DeadLetterQueue) => [Promise<string>, Promise<string>],
    ) {
      const store = await emptyStore();
      await store.add(sampleDeadLetter("a", 1));
      const sent: string[] = [];
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let bothSent!: () => void;
      const bothSentSignal = new Promise<void>((resolve) => (bothSent = resolve));
      const queue = new DeadLetterQueue({
        store,
        redeliver: async () => {
          throw new Error("redeliverOnce expected");
        },
        redeliverOnce: async (_group: string, replays: readonly Replay[]) => {
          sent.push(...replays.map((r) => r.replayId));
          if (sent.length === 2) bothSent();
          await released;
          return replays.length;
        },
      });
      const outcomes = start(queue);
      await bothSentSignal;
      await queue.purge(["a"], { actor: "bob" });
      release();
      return { outcomes: (await Promise.all(outcomes)).sort(), sent, trail: await trail(store, "a") };
    }

    it("of two retries of one record racing a purge, only one is accepted and audited", async () => {
      const result = await twoRetriesRacingAPurge((queue) => [
        outcomeOf(queue.retry("a", { actor: "alice" })),
        outcomeOf(queue.retry("a", { actor: "carol" })),
      ]);

      expect(result.sent).toEqual(["a#1", "a#1"]);
      expect(result.outcomes).toEqual(["DLQ_RETRY_CONFLICT", "ok retried"]);
      expect(result.trail).toHaveLength(2);
      expect(result.trail[0]).toBe("purged:bob:");
      expect(result.trail[1]).toMatch(/^retried:(alice|carol):/);
    });

    it("of a retry and a bulk retry of one record racing a purge, only one is accepted and audited", async () => {
      const bulk = (queue: DeadLetterQueue) =>
        queue
          .retryMany(["a"], { actor: "carol" })
          .then((r) => (r.retried.length > 0 ? "ok retried" : (r.failed[0]?.error.code ?? "none")));
      const result = await twoRetriesRacingAPurge((queue) => [
        outcomeOf(queue.retry("a", { actor: "alice" })),
        bulk(queue),
      ]);

      expect(result.outcomes).toEqual(["DLQ_RETRY_CONFLICT", "ok retried"]);
      expect(result.trail).toHaveLength(2);
      expect(result.trail[0]).toBe("purged:bob:");
    });

    it("an archive whose record is purged before it is marked answers DLQ_NOT_FOUND and audits nothing", async () => {
      const store = await emptyStore();
      await store.add(sampleDeadLetter("b", 1));
      const queue = new DeadLetterQueue({ store, redeliver: async () => {} });
      // The purge lands between the archive's read of the record and its write.
      const update = store.update.bind(store);
      store.update = async (id, change) => {
        await queue.purge([id], { actor: "bob" });
        return update(id, change);
      };

      const outcome = await outcomeOf(queue.archive("b", { actor: "alice" }));

      expect(outcome).toBe("DLQ_NOT_FOUND");
      expect(await store.get("b")).toBeUndefined();
      expect(await trail(store, "b")).toEqual(["purged:bob:"]);
    });
  });
}
