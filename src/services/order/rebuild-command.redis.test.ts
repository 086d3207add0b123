/**
 * `scripts/rebuild-read-model.ts`, the command an order instance names when it refuses to start over
 * a read model whose rebuild did not finish (newuser19 F1: there was none; a user had to write a
 * program against the internals). Real processes over a real redis-server: the order service
 * refuses, the command completes the rebuilds (markers gone, read models complete), the order
 * service then starts; the command refuses while an order instance runs, and refuses an unknown name.
 */
import { spawn } from "node:child_process";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { Transport } from "../../lib/bus/transport.js";
import { type Projection, ProjectionRunner, type ReadModelStore } from "../../lib/eventstore/index.js";
import { commitFailsFrom } from "../../lib/eventstore/projection-contract.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { orderListProjection } from "./order-list.js";
import { deadlineProjection, orderViewProjection } from "./projections.js";
import { createRedisOrderStores } from "./redis-store.js";
import { OrderRepository } from "./repository.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections, type OrderStores } from "./store.js";
import { childrenKilledAfterEach } from "../../test-support/child-run.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: {} as Transport,
  source: { service: "order", instance: "test" },
  signer: null,
});

const running = childrenKilledAfterEach();

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function start(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  running.push(child);
  const run: Run = { code: null, out: "", err: "" };
  child.stdout!.on("data", (chunk: Buffer) => (run.out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (run.err += chunk.toString()));
  const exited = new Promise<Run>((resolve) =>
    child.once("exit", (code) => {
      run.code = code;
      resolve(run);
    }),
  );
  return { child, run, exited };
}

const command = (redisUrl: string, ...args: string[]) =>
  start(["scripts/rebuild-read-model.ts", ...args], { REDIS_URL: redisUrl }).exited;

/** An order service process over `redisUrl`: resolves once it is ready, or with its exit. */
async function orderService(redisUrl: string) {
  const p = start(["src/services/order/main.ts"], { REDIS_URL: redisUrl, SERVICE_PORT: "0" });
  const outcome = await Promise.race([
    new Promise<"ready">((resolve) =>
      p.child.on("message", (m: { type?: string }) => m.type === "ordersaga:ready" && resolve("ready")),
    ),
    p.exited,
  ]);
  return { ...p, outcome };
}

describeWithRedis("scripts/rebuild-read-model.ts", (getRedis) => {
  let stores: OrderStores;

  beforeEach(async () => {
    await getRedis().flush();
    stores = createRedisOrderStores({ redis: getRedis().client() });
  });

  afterEach(async () => {
    await stores.close?.();
  });

  /** 12 orders in flight with a step timeout of an hour (in the deadline index), 3 of them cancelled. */
  async function placeOrders(): Promise<void> {
    const runner = new SagaRunner({
      repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
      now: Date.now,
      saga: { stepTimeoutMs: 3_600_000 },
    });
    for (let i = 0; i < 12; i++) {
      const orderId = `o-${i}`;
      const userId = `u-${i % 3}`;
      const items = [{ productId: "sku-1", quantity: 1 + i }];
      await runner.place(
        { orderId, userId, items, paymentToken: SEALED_TOKEN, correlationId: orderId },
        publisher,
      );
      if (i % 4 !== 3) continue;
      await runner.run(
        orderId,
        { type: "user.validated", payload: { orderId, userId, valid: true } },
        publisher,
      );
      await runner.run(orderId, { type: "cancel" }, publisher);
    }
  }

  /** A rebuild that dies on its second batch of 5: the read model partial, its marker set. */
  async function interrupt<V>(projection: Projection<V>, readModel: ReadModelStore<V>): Promise<void> {
    const runner = new ProjectionRunner({
      events: stores.events,
      projection,
      readModel: commitFailsFrom(readModel, 2),
      batchSize: 5,
    });
    await expect(runner.rebuild()).rejects.toThrow("killed midway");
    expect(await readModel.rebuildMarker()).toBeDefined();
  }

  it("completes interrupted rebuilds: markers gone, read models complete, the order service then starts", async () => {
    const url = getRedis().url;
    await placeOrders();
    const complete = {
      views: await stores.views.all(),
      deadlines: await stores.deadlines.all(),
      list: await stores.list.all(),
    };
    expect(complete.deadlines.size).toBeGreaterThan(0);
    expect(complete.list.size).toBe(12);
    await interrupt(orderViewProjection, stores.views);
    await interrupt(deadlineProjection, stores.deadlines);
    await interrupt(orderListProjection, stores.list);
    expect((await stores.deadlines.all()).size).toBeLessThan(complete.deadlines.size);

    const refused = await orderService(url);
    expect(refused.outcome, refused.run.out + refused.run.err).not.toBe("ready");
    expect(refused.run.code).toBe(1);
    expect(refused.run.out + refused.run.err).toMatch(
      /order-view-v1: a rebuild .* has not finished.*npx tsx scripts\/rebuild-read-model\.ts views/,
    );

    // One read model, then all (the views again: idempotent).
    const views = await command(url, "views");
    expect(views.code, views.out + views.err).toBe(0);
    expect(views.out).toMatch(
      /^rebuilt order-view-v1 \(views\): \d+ events replayed in \d+ ms \(completed the unfinished rebuild .+\)\n$/,
    );
    expect(await stores.views.rebuildMarker()).toBeUndefined();
    expect(await stores.deadlines.rebuildMarker()).toBeDefined();

    const all = await command(url, "all");
    expect(all.code, all.out + all.err).toBe(0);
    const lines = all.out.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^rebuilt order-view-v1 \(views\): \d+ events replayed in \d+ ms$/);
    expect(lines[1]).toMatch(
      /^rebuilt order-deadlines-v1 \(deadlines\): \d+ events .* \(completed the unfinished/,
    );
    expect(lines[2]).toMatch(/^rebuilt order-list-v1 \(list\): \d+ events .* \(completed the unfinished/);
    for (const readModel of [stores.views, stores.deadlines, stores.list])
      expect(await readModel.rebuildMarker()).toBeUndefined();
    expect(await stores.views.all()).toEqual(complete.views);
    expect(await stores.deadlines.all()).toEqual(complete.deadlines);
    expect(await stores.list.all()).toEqual(complete.list);

    const started = await orderService(url);
    expect(started.outcome, started.run.out + started.run.err).toBe("ready");
  }, 120_000);

  it("refuses while an order instance is registered and answers; runs once it is stopped", async () => {
    const url = getRedis().url;
    await placeOrders();
    const order = await orderService(url);
    expect(order.outcome, order.run.out + order.run.err).toBe("ready");

    const refused = await command(url, "all");
    expect(refused.code).toBe(1);
    expect(refused.out).toBe("");
    expect(refused.err.trim().split("\n")).toHaveLength(1);
    expect(refused.err).toMatch(/^refused: 1 order instance\(s\) running over .*stop the whole system first/);
    expect(refused.err).toContain("a stopped child is restarted");

    order.child.kill("SIGTERM");
    expect((await order.exited).code).toBe(0);
    const ran = await command(url, "list");
    expect(ran.code, ran.out + ran.err).toBe(0);
    expect(ran.out).toMatch(/^rebuilt order-list-v1 \(list\): \d+ events replayed/);
  }, 120_000);

  it("refuses an unknown read model in one line naming the choices (exit 2)", async () => {
    for (const args of [["viewz"], [], ["views", "list"]]) {
      const run = await command(getRedis().url, ...args);
      expect(run.code).toBe(2);
      expect(run.out).toBe("");
      expect(run.err.trim().split("\n")).toHaveLength(1);
      expect(run.err).toContain("<views|deadlines|list|all>");
    }
  }, 60_000);
});
