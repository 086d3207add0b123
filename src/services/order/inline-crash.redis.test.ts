import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { readModelKey, streamKey } from "../../lib/eventstore/keys.js";
import type { StoredEvent } from "../../lib/eventstore/index.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { deadlineIndexKey, ORDER_TAG, orderIdOfStream } from "./keys.js";
import { orderListKey } from "./order-list-redis.js";
import { listMember, orderListProjection } from "./order-list.js";
import { type DeadlineView, deadlineProjection, type OrderView, orderViewProjection } from "./projections.js";

const fixture = fileURLToPath(new URL("./inline-appender.fixture.ts", import.meta.url));

const fold = <V>(
  apply: (view: V | undefined, event: StoredEvent) => V,
  events: StoredEvent[],
  keyed: (e: StoredEvent) => boolean,
) => events.filter(keyed).reduce<V | undefined>(apply, undefined);

describeWithRedis("inline read models and a crash", (getRedis) => {
  it("a writer killed mid-append leaves every order's view, deadline and list entry matching its stream", async () => {
    const server = getRedis();
    await server.flush();
    const redis = server.client();
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      env: { ...process.env, REDIS_URL: server.url },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = once(child, "exit");
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => output.includes("ready") || child.exitCode !== null, 60_000, "the writer to start");
    const listKey = orderListKey();
    // Killed while its workers have appends in flight (every worker appends back to back).
    await waitFor(async () => (await redis.zcard(listKey)) >= 40, 60_000, "40 orders written");
    child.kill("SIGKILL");
    await exited;

    const streams: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", streamKey(ORDER_TAG, "order-*"), "COUNT", 1000);
      cursor = next;
      streams.push(...keys);
    } while (cursor !== "0");
    expect(streams.length).toBeGreaterThanOrEqual(40);
    const viewsKey = readModelKey(ORDER_TAG, orderViewProjection.name);
    const dueKey = deadlineIndexKey(ORDER_TAG, deadlineProjection.name);
    for (const key of streams) {
      const events = (await redis.lrange(key, 0, -1)).map((json) => JSON.parse(json) as StoredEvent);
      const orderId = orderIdOfStream(events[0]?.streamId ?? "") ?? "";
      const json = await redis.hget(viewsKey, orderId);
      const view = json === null ? undefined : (JSON.parse(json) as { value: OrderView }).value;
      expect(view, `view of ${orderId}`).toEqual(fold(orderViewProjection.apply, events, () => true));
      const deadline = fold<DeadlineView>(
        deadlineProjection.apply,
        events,
        (e) => deadlineProjection.keyOf(e) !== undefined,
      );
      const score = await redis.zscore(dueKey, orderId);
      expect(score === null ? null : Number(score), `deadline of ${orderId}`).toBe(
        deadline?.deadline ?? null,
      );
      const entry = fold(
        orderListProjection.apply,
        events,
        (e) => orderListProjection.keyOf(e) !== undefined,
      );
      expect(entry).toBeDefined();
      const member = listMember(orderId, entry?.createdAtMs ?? 0);
      expect(await redis.zscore(listKey, member), `list entry of ${orderId}`).toBe("0");
    }
    expect(await redis.zcard(listKey)).toBe(streams.length);
  });
});
