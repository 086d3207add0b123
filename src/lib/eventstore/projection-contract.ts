/**
 * The behaviour of projections over every (event store, read model) adapter pair, run by each
 * adapter's test file. The toy projection counts "counter.added" events per stream.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ConcurrencyError, InvalidAppendError } from "./errors.js";
import type { EventStore, StoredEvent } from "./event-store.js";
import { type InlineTarget, inlineUpdate } from "./inline-projection.js";
import { type Projection, ProjectionRunner } from "./projection.js";
import type { ReadModelCommit, ReadModelStore } from "./read-model-store.js";

export interface ProjectionFixture {
  events: EventStore;
  /** A new read model instance (own connection where the adapter has one) over the same data. */
  readModel<V>(name: string): ReadModelStore<V> & InlineTarget<V>;
}

export type ProjectionFactory = () => Promise<ProjectionFixture>;

interface CounterView {
  total: number;
  versions: number[];
}

const counters: Projection<CounterView> = {
  name: "counters",
  keyOf: (event) => (event.type === "counter.added" ? event.streamId : undefined),
  apply: (view, event: StoredEvent) => ({
    total: (view?.total ?? 0) + Number((event.data as { amount: number }).amount),
    versions: [...(view?.versions ?? []), event.version],
  }),
};

const add = (events: EventStore, streamId: string, amount: number) =>
  events.append(streamId, [{ type: "counter.added", data: { amount } }], { expectedVersion: "any" });

const noise = (events: EventStore, streamId: string) =>
  events.append(streamId, [{ type: "counter.noise", data: null }], { expectedVersion: "any" });

/** A read model whose `load` waits for `gate`: the runner has read its checkpoint and batch by then. */
function loadAfter<V>(inner: ReadModelStore<V>, gate: Promise<void>): ReadModelStore<V> {
  return {
    get: (key) => inner.get(key),
    load: async (keys) => {
      await gate;
      return inner.load(keys);
    },
    all: () => inner.all(),
    checkpoint: () => inner.checkpoint(),
    commit: (batch) => inner.commit(batch),
    clear: () => inner.clear(),
    rebuildMarker: () => inner.rebuildMarker(),
    markRebuild: (id) => inner.markRebuild(id),
    unmarkRebuild: (id, checkpoint) => inner.unmarkRebuild(id, checkpoint),
  };
}

/**
 * The rebuild marker of any read-model store (the port's adapters, the order service's indexes):
 * kept by `clear`, removed only with its id and the checkpoint the replay reached. `batch` must be
 * committable on an empty read model (`expectedCheckpoint` undefined).
 */
export async function expectRebuildMarkerPort<V>(
  store: ReadModelStore<V>,
  batch: ReadModelCommit<V>,
): Promise<void> {
  expect(batch.expectedCheckpoint).toBeUndefined();
  expect(await store.rebuildMarker()).toBeUndefined();
  await store.markRebuild("rebuild-1");
  await store.clear();
  expect(await store.rebuildMarker()).toBe("rebuild-1");
  expect(await store.commit(batch)).toBe(true);
  // Another rebuild's id, or a checkpoint moved since the replay's end: the marker stays.
  expect(await store.unmarkRebuild("rebuild-0", batch.checkpoint)).toBe(false);
  expect(await store.unmarkRebuild("rebuild-1", undefined)).toBe(false);
  expect(await store.rebuildMarker()).toBe("rebuild-1");
  expect(await store.unmarkRebuild("rebuild-1", batch.checkpoint)).toBe(true);
  expect(await store.rebuildMarker()).toBeUndefined();
  expect(await store.unmarkRebuild("rebuild-1", batch.checkpoint)).toBe(false);
}

/** A read model whose `commit` throws from its `failFrom`-th call on (a rebuild killed midway). */
export function commitFailsFrom<V>(inner: ReadModelStore<V>, failFrom: number): ReadModelStore<V> {
  let commits = 0;
  return {
    get: (key) => inner.get(key),
    load: (keys) => inner.load(keys),
    all: () => inner.all(),
    checkpoint: () => inner.checkpoint(),
    commit: async (batch) => {
      commits += 1;
      if (commits >= failFrom) throw new Error("killed midway");
      return inner.commit(batch);
    },
    clear: () => inner.clear(),
    rebuildMarker: () => inner.rebuildMarker(),
    markRebuild: (id) => inner.markRebuild(id),
    unmarkRebuild: (id, checkpoint) => inner.unmarkRebuild(id, checkpoint),
  };
}

export function runProjectionContract(name: string, factory: ProjectionFactory): void {
  describe(`Projection contract: ${name}`, () => {
    let fixture: ProjectionFixture;
    let events: EventStore;
    const runner = (readModel: ReadModelStore<CounterView>, batchSize = 3) =>
      new ProjectionRunner({ events, projection: counters, readModel, batchSize });

    beforeEach(async () => {
      fixture = await factory();
      events = fixture.events;
    });

    it("projects every event after the checkpoint into queryable views", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      await add(events, "a", 1);
      await noise(events, "a");
      await add(events, "b", 5);
      const { positions } = await add(events, "a", 2);
      expect(await runner(readModel).catchUp()).toBe(4);
      expect(await readModel.get("a")).toEqual({ total: 3, versions: [1, 3] });
      expect(await readModel.get("b")).toEqual({ total: 5, versions: [1] });
      expect(await readModel.get("c")).toBeUndefined();
      expect(await readModel.checkpoint()).toBe(positions[0]);
    });

    it("keeps a rebuild marker through clear and removes it only with its id and checkpoint", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      const views = new Map([["a", { position: "0000000000000001", value: { total: 1, versions: [1] } }]]);
      await expectRebuildMarkerPort(readModel, {
        expectedCheckpoint: undefined,
        checkpoint: "0000000000000001",
        views,
      });
    });

    it("leaves no rebuild marker after a rebuild that completed", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      for (let i = 0; i < 7; i++) await add(events, `s-${i % 3}`, 1);
      expect(await runner(readModel).rebuild()).toBe(7);
      expect(await readModel.rebuildMarker()).toBeUndefined();
      expect(await runner(readModel).unfinishedRebuild()).toBeUndefined();
    });

    it("leaves the marker when a rebuild dies midway; a second rebuild() completes the read model and removes it", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      for (let i = 0; i < 10; i++) await add(events, `s-${i % 4}`, i);
      await runner(readModel).catchUp();
      const complete = await readModel.all();
      expect(complete.size).toBe(4);
      await expect(runner(commitFailsFrom(readModel, 2)).rebuild()).rejects.toThrow("killed midway");
      // One batch of 3 committed: the read model is partial, and says so.
      const marker = await runner(readModel).unfinishedRebuild();
      expect(marker).toBeDefined();
      expect((await readModel.all()).size).toBeLessThan(complete.size);
      expect(await runner(readModel).rebuild()).toBe(10);
      expect(await readModel.all()).toEqual(complete);
      expect(await runner(readModel).unfinishedRebuild()).toBeUndefined();
      expect(await readModel.checkpoint()).toBe(
        (await events.readAll({ after: undefined, limit: 100 })).at(-1)?.globalPosition,
      );
    });

    it("a rebuild killed between marking and clearing leaves the marker; a second rebuild() completes it", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      await add(events, "a", 1);
      await runner(readModel).catchUp();
      await readModel.markRebuild("killed-before-clear");
      await add(events, "a", 2);
      expect(await runner(readModel).unfinishedRebuild()).toBe("killed-before-clear");
      await runner(readModel).rebuild();
      expect(await readModel.get("a")).toEqual({ total: 3, versions: [1, 2] });
      expect(await readModel.rebuildMarker()).toBeUndefined();
    });

    it("builds the same read model live as by rebuild()", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      const live = runner(readModel, 2);
      for (let i = 0; i < 12; i++) {
        await (i % 4 === 3 ? noise(events, `s-${i % 3}`) : add(events, `s-${i % 3}`, i));
        if (i % 2 === 0) await live.catchUp();
      }
      await live.catchUp();
      const liveViews = await readModel.all();
      const liveCheckpoint = await readModel.checkpoint();
      expect(liveViews.size).toBe(3);
      expect(await live.rebuild()).toBe(12);
      expect(await readModel.all()).toEqual(liveViews);
      expect(await readModel.checkpoint()).toBe(liveCheckpoint);
    });

    it("keeps its checkpoint for a new runner instance, which resumes after it", async () => {
      await add(events, "a", 1);
      await add(events, "a", 2);
      await runner(fixture.readModel("counters")).catchUp();
      const { positions } = await add(events, "a", 4);
      const resumed = fixture.readModel<CounterView>("counters");
      expect(await runner(resumed).catchUp()).toBe(1);
      expect(await resumed.get("a")).toEqual({ total: 7, versions: [1, 2, 3] });
      expect(await resumed.checkpoint()).toBe(positions[0]);
    });

    it("yields the same views when replayed from an older checkpoint", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      const first = await add(events, "a", 1);
      await add(events, "b", 2);
      await add(events, "a", 3);
      await runner(readModel).catchUp();
      const before = await readModel.all();
      const rewound = await readModel.commit({
        expectedCheckpoint: await readModel.checkpoint(),
        checkpoint: first.positions[0] ?? "",
        views: new Map(),
      });
      expect(rewound).toBe(true);
      expect(await runner(readModel).catchUp()).toBe(2);
      expect(await readModel.all()).toEqual(before);
    });

    it("projects events appended during catch-up exactly once, even with two runners", async () => {
      const streams = ["a", "b", "c", "d"];
      const runners = [runner(fixture.readModel("counters"), 2), runner(fixture.readModel("counters"), 5)];
      let appending = true;
      const appends = Promise.all(
        streams.map(async (id) => {
          for (let i = 1; i <= 10; i++) await add(events, id, i);
        }),
      ).finally(() => {
        appending = false;
      });
      const catchUps = runners.map(async (r) => {
        while (appending) await r.catchUp();
      });
      await Promise.all([appends, ...catchUps]);
      await runners[0]?.catchUp();
      const views = await fixture.readModel<CounterView>("counters").all();
      for (const id of streams) {
        expect(views.get(id)).toEqual({ total: 55, versions: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
      }
    });

    it("applies a batch once when a slower runner read it before a faster one committed", async () => {
      await add(events, "a", 1);
      await add(events, "a", 2);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slow = runner(loadAfter(fixture.readModel("counters"), gate));
      const slowRun = slow.catchUp();
      await runner(fixture.readModel("counters")).catchUp();
      release();
      await slowRun;
      expect(await fixture.readModel<CounterView>("counters").get("a")).toEqual({
        total: 3,
        versions: [1, 2],
      });
    });

    it("commits nothing from a batch whose projection throws", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      await add(events, "a", 1);
      await add(events, "b", -1);
      const failing = new ProjectionRunner<CounterView>({
        events,
        readModel,
        projection: {
          ...counters,
          apply: (view, event) => {
            if (event.streamId === "b") throw new Error("bad event");
            return counters.apply(view, event);
          },
        },
      });
      await expect(failing.catchUp()).rejects.toThrow("bad event");
      expect(await readModel.checkpoint()).toBeUndefined();
      expect(await readModel.get("a")).toBeUndefined();
    });

    it("polls after start() until stop()", async () => {
      const readModel = fixture.readModel<CounterView>("counters");
      const polling = runner(readModel);
      polling.start({ intervalMs: 5 });
      await add(events, "a", 1);
      await vi.waitFor(async () => expect(await readModel.get("a")).toEqual({ total: 1, versions: [1] }));
      await polling.stop();
      const { positions } = await add(events, "a", 2);
      expect(await readModel.checkpoint()).not.toBe(positions[0]);
    });

    describe("inline (written by the append itself)", () => {
      /** Appends `amount` to `streamId` at `expected`, with the counters view of `readModel` inline. */
      const addInline = async (
        readModel: ReadModelStore<CounterView> & InlineTarget<CounterView>,
        streamId: string,
        amount: number,
        expected: number,
        projection: Projection<CounterView> = counters,
      ) => {
        const prior = await readModel.load([streamId]);
        const views = new Map([...prior].map(([key, record]) => [key, record.value]));
        return events.append(
          streamId,
          [
            { type: "counter.added", data: { amount } },
            { type: "counter.noise", data: null },
          ],
          {
            expectedVersion: expected === 0 ? "no_stream" : expected,
            inline: [inlineUpdate({ projection, target: readModel }, views)],
          },
        );
      };

      it("has the view as soon as the append returns, recorded at its event's position", async () => {
        const readModel = fixture.readModel<CounterView>("counters");
        await addInline(readModel, "a", 1, 0);
        const { positions } = await addInline(readModel, "a", 2, 2);
        expect(await readModel.get("a")).toEqual({ total: 3, versions: [1, 3] });
        // The view's position is that of the last event applied to it (the added, not the noise).
        expect((await readModel.load(["a"])).get("a")?.position).toBe(positions[0]);
        // The rebuild path (the runner over the global log) builds the same views.
        const rebuilt = fixture.readModel<CounterView>("rebuilt");
        await runner(rebuilt).rebuild();
        expect(await rebuilt.all()).toEqual(await readModel.all());
      });

      it("writes no view when the append is refused for a stale version", async () => {
        const readModel = fixture.readModel<CounterView>("counters");
        await addInline(readModel, "a", 1, 0);
        await expect(addInline(readModel, "a", 5, 1)).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await readModel.get("a")).toEqual({ total: 1, versions: [1] });
      });

      it("writes neither events nor views when the fold throws", async () => {
        const readModel = fixture.readModel<CounterView>("counters");
        const failing: Projection<CounterView> = {
          ...counters,
          apply: () => {
            throw new Error("bad event");
          },
        };
        await expect(addInline(readModel, "a", 1, 0, failing)).rejects.toThrow("bad event");
        expect(await events.version("a")).toBe(0);
        expect(await readModel.get("a")).toBeUndefined();
      });

      it('refuses an inline append not pinned to a version ("any"), writing nothing', async () => {
        const readModel = fixture.readModel<CounterView>("counters");
        const update = inlineUpdate({ projection: counters, target: readModel }, new Map());
        await expect(
          events.append("a", [{ type: "counter.added", data: { amount: 1 } }], {
            expectedVersion: "any",
            inline: [update],
          }),
        ).rejects.toBeInstanceOf(InvalidAppendError);
        expect(await events.version("a")).toBe(0);
        expect(await readModel.get("a")).toBeUndefined();
      });
    });
  });
}
