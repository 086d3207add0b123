/**
 * fixdl (break35 F1's other writes): a user instance that passed the gateway credential's deadline
 * check on arrival and then stalled (GC, SIGSTOP, a slow Redis) before its write. Each write checks
 * the deadline again on Redis `TIME` in its script: a late `PUT /users/:id` would otherwise undo a
 * later write, a late `DELETE` delete a user the client checked and kept (and updated), a late
 * `POST /users` create a user after the client's conclusive check.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/catalog.js";
import {
  GATEWAY_AUTH_HEADER,
  gatewayHeaders,
  signGatewayAttempt,
} from "../../lib/http/gateway-credential.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { userDataCipherFromEnv } from "../../lib/security/user-data.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { RedisUserStore } from "./redis-store.js";
import { createUserService } from "./service.js";
import type { UserStore } from "./store.js";

const SECRET = "s".repeat(64);

describeWithRedis("a user write that runs past the gateway's deadline", (getRedis) => {
  let platform: Platform;
  let running: RunningService | undefined;
  /** The deadline a stalled write waits past (Redis `TIME`); `stall` off: writes run at once. */
  let deadline = 0;
  let stall = false;
  let stalled: string[] = [];

  const redisNow = async () => {
    const [seconds, micros] = await getRedis().client().time();
    return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
  };
  /** Runs `write` once Redis's clock is past `deadline`: the instance stalled after its check. */
  const late = async <T>(name: string, write: () => Promise<T>): Promise<T> => {
    if (!stall) return write();
    stalled.push(name);
    await waitFor(async () => (await redisNow()) > deadline, 15_000, "Redis time past the deadline");
    return write();
  };

  beforeEach(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
    stall = false;
    stalled = [];
    const real = new RedisUserStore(
      getRedis().client(),
      userDataCipherFromEnv(process.env, { withIndex: true }),
    );
    const store: UserStore = {
      get: (id) => real.get(id),
      create: (...args) => late("create", () => real.create(...args)),
      update: (...args) => late("update", () => real.update(...args)),
      remove: (...args) => late("remove", () => real.remove(...args)),
      answerValidation: (...args) => real.answerValidation(...args),
    };
    running = await startService(createUserService({ store }), {
      events: AllEvents,
      platform,
      port: 0,
      gatewaySecret: SECRET,
    });
  });

  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await platform.close();
  });

  /**
   * A `v2` call whose deadline is `budgetMs` ahead on Redis's clock (3 s: it passes the check on
   * arrival on a loaded machine, and a stalled write waits that long).
   */
  const send = async (method: string, path: string, body?: unknown, budgetMs = 3_000) => {
    const at = await redisNow();
    deadline = at + budgetMs;
    return fetch(`${running!.url}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        [GATEWAY_AUTH_HEADER]: signGatewayAttempt(SECRET, method, path, at, deadline),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  };
  const read = async (path: string) => {
    const url = `${running!.url}${path}`;
    return fetch(url, { headers: gatewayHeaders(SECRET, "GET", url) });
  };
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  /** A user created without a stall; its id. */
  const created = async (email: string) => {
    const res = await send("POST", "/users", { email, name: "Ada" }, 60_000);
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };

  it("PUT /users/:id: updates nothing and answers 503 GATEWAY_DEADLINE_PASSED", async () => {
    const id = await created("put@x.test");
    stall = true;
    const res = await send("PUT", `/users/${id}`, { name: "Late" });
    expect(stalled).toEqual(["update"]);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("GATEWAY_DEADLINE_PASSED");
    expect(await (await read(`/users/${id}`)).json()).toMatchObject({ name: "Ada" });
  }, 60_000);

  it("DELETE /users/:id: deletes nothing and answers 503 GATEWAY_DEADLINE_PASSED", async () => {
    const id = await created("delete@x.test");
    stall = true;
    const res = await send("DELETE", `/users/${id}`);
    expect(stalled).toEqual(["remove"]);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("GATEWAY_DEADLINE_PASSED");
    expect((await read(`/users/${id}`)).status).toBe(200);
  }, 60_000);

  it("POST /users: creates nothing (the email stays free) and answers 503 GATEWAY_DEADLINE_PASSED", async () => {
    stall = true;
    const res = await send("POST", "/users", { email: "create@x.test", name: "Ada" });
    expect(stalled).toEqual(["create"]);
    expect(res.status).toBe(503);
    expect(await code(res)).toBe("GATEWAY_DEADLINE_PASSED");
    stall = false;
    expect((await send("POST", "/users", { email: "create@x.test", name: "Ada" }, 60_000)).status).toBe(201);
  }, 60_000);
});
