/**
 * fixdl (break35 F1's other writes): an inventory instance that passed the gateway credential's
 * deadline check on arrival and then stalled (GC, SIGSTOP, a slow Redis) before its write. The write
 * checks the deadline again on Redis `TIME` in its script: a late unkeyed restock would otherwise add
 * the quantity after the client's conclusive check and resend (stock counted twice), a late
 * `POST /inventory` make a product appear the client found absent.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import {
  GATEWAY_AUTH_HEADER,
  gatewayHeaders,
  signGatewayAttempt,
} from "../../lib/http/gateway-credential.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createInventoryService } from "./service.js";
import type { InventoryStore } from "./store.js";

const SECRET = "s".repeat(64);

describeWithRedis("an inventory write that runs past the gateway's deadline", (getRedis) => {
  let platform: Platform;
  let running: RunningService | undefined;
  /** The deadline the stalled write waits past (Redis `TIME`), and the writes that stalled. */
  let deadline = 0;
  let stalled: string[] = [];

  const redisNow = async () => {
    const [seconds, micros] = await getRedis().client().time();
    return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
  };
  /** Runs `write` once Redis's clock is past `deadline`: the instance stalled after its check. */
  const late = async <T>(name: string, write: () => Promise<T>): Promise<T> => {
    stalled.push(name);
    await waitFor(async () => (await redisNow()) > deadline, 15_000, "Redis time past the deadline");
    return write();
  };
  const stalling = (store: InventoryStore): InventoryStore => ({
    listProducts: (query) => store.listProducts(query),
    getProduct: (id) => store.getProduct(id),
    getReservation: (id) => store.getReservation(id),
    addProduct: (...args) => late("add", () => store.addProduct(...args)),
    restock: (...args) => late("restock", () => store.restock(...args)),
    reserve: (...args) => store.reserve(...args),
    release: (...args) => store.release(...args),
    commit: (...args) => store.commit(...args),
  });

  beforeEach(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
    const service = createInventoryService({
      seed: [{ productId: "p-late", name: "Late", price: 100, quantity: 3 }],
      wrapStore: stalling,
    });
    running = await startService(service, { events: AllEvents, platform, port: 0, gatewaySecret: SECRET });
    stalled = []; // the seed's add (deadline 0: long past, and no applyBy given) went through
  });

  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await platform.close();
  });

  /**
   * A `v2` call whose deadline is 3 s ahead on Redis's clock: it passes the check on arrival on a
   * loaded machine (the stalled write then waits that long).
   */
  const send = async (method: string, path: string, body: unknown) => {
    const at = await redisNow();
    deadline = at + 3_000;
    return fetch(`${running!.url}${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        [GATEWAY_AUTH_HEADER]: signGatewayAttempt(SECRET, method, path, at, deadline),
      },
      body: JSON.stringify(body),
    });
  };
  const read = async (path: string) => {
    const url = `${running!.url}${path}`;
    return fetch(url, { headers: gatewayHeaders(SECRET, "GET", url) });
  };
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it("restocks nothing (no Idempotency-Key) and answers 503 GATEWAY_DEADLINE_PASSED", async () => {
    const res = await send("POST", "/inventory/p-late/restock", { quantity: 5 });
    expect(stalled).toEqual(["restock"]);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("GATEWAY_DEADLINE_PASSED");
    expect(await (await read("/inventory/p-late")).json()).toMatchObject({ available: 3 });
  }, 60_000);

  it("adds no product and answers 503 GATEWAY_DEADLINE_PASSED", async () => {
    const body = { productId: "p-new", name: "New", price: 100, quantity: 1 };
    const res = await send("POST", "/inventory", body);
    expect(stalled).toEqual(["add"]);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("GATEWAY_DEADLINE_PASSED");
    expect((await read("/inventory/p-new")).status).toBe(404);
  }, 60_000);
});
