import { describe, expect, it } from "vitest";
import type { ViewRecord } from "../../lib/eventstore/index.js";
import type { DeadlineView } from "./projections.js";
import type { CommandPreparer, RunResult } from "./saga-runner.js";
import { given } from "./saga-fixtures.js";
import { MemoryDeadlineIndex } from "./store.js";
import { DeadlineSweeper } from "./sweeper.js";

/** The sweeper hands the preparer to the runner; these runners never prepare anything. */
const preparer: CommandPreparer = {
  prepare: () => {
    throw new Error("not used");
  },
};

/** A timeout the runner applied (the order moved, its entry with it). */
const applied = (): RunResult => ({
  kind: "applied",
  state: given(),
  decision: { events: [], commands: [] },
  version: 2,
});

async function indexOf(deadlines: Record<string, number>): Promise<MemoryDeadlineIndex> {
  const index = new MemoryDeadlineIndex();
  const views = new Map<string, ViewRecord<DeadlineView>>(
    Object.entries(deadlines).map(([id, deadline]) => [id, { position: "1-0", value: { deadline } }]),
  );
  await index.commit({ expectedCheckpoint: undefined, checkpoint: "1-0", views });
  return index;
}

describe("deadline sweeper", () => {
  it("100 overdue orders that keep throwing do not stop another overdue order from timing out", async () => {
    const overdue: Record<string, number> = { good: 2 };
    for (let i = 0; i < 100; i++) overdue[`bad-${String(i).padStart(3, "0")}`] = 1;
    const deadlines = await indexOf(overdue);
    const timedOut: string[] = [];
    let now = 10;
    const sweeper = new DeadlineSweeper({
      deadlines,
      runner: {
        run: async (orderId: string): Promise<RunResult> => {
          if (orderId.startsWith("bad-")) throw new Error("corrupt history");
          timedOut.push(orderId);
          return applied();
        },
      },
      preparer,
      now: () => now,
      batchSize: 100,
    });
    for (let sweep = 0; sweep < 3 && timedOut.length === 0; sweep++) {
      await sweeper.sweepOnce();
      now += 10;
    }
    expect(timedOut).toEqual(["good"]);
    expect(sweeper.parkedCount).toBeGreaterThanOrEqual(99); // the bad ones it ran (the good one may come first)
  });

  it("retries a parked order after its backoff", async () => {
    const deadlines = await indexOf({ flaky: 1 });
    let calls = 0;
    let now = 10;
    const sweeper = new DeadlineSweeper({
      deadlines,
      runner: {
        run: async (): Promise<RunResult> => {
          if (++calls === 1) throw new Error("store blip");
          return applied();
        },
      },
      preparer,
      now: () => now,
      parkBaseMs: 1_000,
    });
    await sweeper.sweepOnce();
    await sweeper.sweepOnce();
    expect(calls).toBe(1);
    now += 1_000;
    await sweeper.sweepOnce();
    expect(calls).toBe(2);
    expect(sweeper.parkedCount).toBe(0);
  });

  it("forgets a parked order once its entry has left the index", async () => {
    const deadlines = await indexOf({ gone: 1, other: 1 });
    const sweeper = new DeadlineSweeper({
      deadlines,
      runner: { run: async (): Promise<RunResult> => ({ kind: "unknown" }) },
      preparer,
      now: () => 10,
    });
    await sweeper.sweepOnce();
    expect(sweeper.parkedCount).toBe(2);
    await deadlines.commit({
      expectedCheckpoint: "1-0",
      checkpoint: "2-0",
      views: new Map([["gone", { position: "2-0", value: { deadline: null } }]]),
    });
    await sweeper.sweepOnce();
    expect(sweeper.parkedCount).toBe(1);
  });

  it("100 overdue orders whose timeout changes nothing do not stop another overdue order from timing out (break31 F1)", async () => {
    const overdue: Record<string, number> = { good: 2 };
    for (let i = 0; i < 100; i++) overdue[`stuck-${String(i).padStart(3, "0")}`] = 1;
    const deadlines = await indexOf(overdue);
    const timedOut: string[] = [];
    let now = 10;
    const sweeper = new DeadlineSweeper({
      deadlines,
      runner: {
        // A stale entry: the order is over, nothing to time out, and the entry stays.
        run: async (orderId: string): Promise<RunResult> => {
          if (orderId.startsWith("stuck-"))
            return { kind: "unchanged", state: given(), decision: { events: [], commands: [] } };
          timedOut.push(orderId);
          await deadlines.commit({
            expectedCheckpoint: "1-0",
            checkpoint: "2-0",
            views: new Map([[orderId, { position: "2-0", value: { deadline: null } }]]),
          });
          return applied();
        },
      },
      preparer,
      now: () => now,
      batchSize: 100,
    });
    for (let sweep = 0; sweep < 3 && timedOut.length === 0; sweep++) {
      await sweeper.sweepOnce();
      now += 10;
    }
    expect(timedOut).toEqual(["good"]);
    expect(sweeper.parkedCount).toBeGreaterThanOrEqual(99); // the bad ones it ran (the good one may come first)
  });

  // break33 F2: stale entries (each timeout "unchanged") ahead of one order that is really overdue,
  // one scan a second with the defaults; before, 1,000 of them delayed it 48 s and 10,200 for good.
  for (const stale of [150, 1_000, 10_200]) {
    it(`reaches an overdue order behind ${stale} entries whose timeout changes nothing within stale ÷ batch scans`, async () => {
      const entries: Record<string, number> = {};
      for (let i = 0; i < stale; i++) entries[`stale-${String(i).padStart(5, "0")}`] = i;
      entries.legit = stale + 10;
      const deadlines = await indexOf(entries);
      let now = 1_000_000;
      let reached: number | undefined;
      const reads: number[] = [];
      const sweeper = new DeadlineSweeper({
        deadlines: {
          due: (at, limit, offset) => {
            reads.push(limit);
            return deadlines.due(at, limit, offset);
          },
        },
        runner: {
          run: async (orderId: string): Promise<RunResult> => {
            if (orderId !== "legit")
              return { kind: "unchanged", state: given(), decision: { events: [], commands: [] } };
            reached ??= now;
            return applied();
          },
        },
        preparer,
        now: () => now,
      });
      const start = now;
      for (let scan = 0; scan < stale / 100 + 20 && reached === undefined; scan++) {
        await sweeper.sweepOnce();
        now += 1_000;
      }
      expect(reached).toBeDefined();
      expect((reached! - start) / 1_000).toBeLessThanOrEqual(stale / 100 + 12);
      expect(sweeper.parkedCount).toBeLessThanOrEqual(1_001);
      expect(Math.max(...reads)).toBeLessThanOrEqual(1_101);
    }, 60_000);
  }
});
