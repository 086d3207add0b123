import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/catalog.js";
import type { UserUpdated, UserValidated } from "../../contracts/user.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createMemoryPlatform, createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import {
  generateUserDataKeys,
  userDataCipherFromEnv,
  userDataSetting,
} from "../../lib/security/user-data.js";
import { newUser } from "./domain.js";
import { userKey } from "./keys.js";
import { RedisUserStore } from "./redis-store.js";
import { userService } from "./service.js";
import { type Observer, observe, testPublisher } from "../../test-support/observer.js";

interface Harness {
  platform: Platform;
  running: RunningService;
  observer: Observer;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
}

async function startHarness(platform: Platform): Promise<Harness> {
  const observer = await observe(platform, [
    "user.created",
    "user.updated",
    "user.deleted",
    "user.validated",
  ]);
  const logger = createLogger({ service: "user", level: "silent" });
  const running = await startService(userService, { events: AllEvents, platform, port: 0, logger });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(running.url + path, {
      method,
      ...(body === undefined
        ? { headers }
        : { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      headers: response.headers,
    };
  };
  return { platform, running, observer, call };
}

async function stopHarness(h: Harness): Promise<void> {
  await h.running.stop();
  await h.observer.stop();
  await h.platform.close();
}

async function eventsOf(h: Harness, event: "user.created" | "user.updated" | "user.deleted", count: number) {
  await waitFor(() => h.observer.of(event).length >= count, 5_000, `${count} ${event}`);
  return h.observer.of(event);
}

const answers = (h: Harness, orderId: string) =>
  h.observer
    .of("user.validated")
    .map((e) => e.payload as UserValidated)
    .filter((p) => p.orderId === orderId);

async function createManyWithOneEmail(h: Harness): Promise<number[]> {
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      h.call("POST", "/users", { email: "race@x.test", name: `Racer ${i}` }),
    ),
  );
  return responses.map((r) => r.status).sort();
}

/**
 * break35 F7: every user event carries the record's version after its write (1, then +1 per
 * write, whoever wins a race), the order consumers apply them in; the highest is the state served.
 */
async function expectVersionedEvents(h: Harness): Promise<void> {
  const id = String((await h.call("POST", "/users", { email: "v@x.test", name: "V" })).body.id);
  const racers = await Promise.all(
    ["A", "B", "C", "D"].map((name) => h.call("PUT", `/users/${id}`, { name })),
  );
  expect(racers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  const [created] = await eventsOf(h, "user.created", 1);
  expect(created?.payload).toMatchObject({ userId: id, version: 1 });
  const updates = (await eventsOf(h, "user.updated", 4)).map((e) => e.payload as UserUpdated);
  expect(updates.map((u) => u.version).sort()).toEqual([2, 3, 4, 5]);
  const last = updates.find((u) => u.version === 5);
  expect((await h.call("GET", `/users/${id}`)).body.name).toBe(last?.name);
}

/**
 * break35 F2: a POST /users whose answer was lost left a user the client could not find (409 to a
 * resend, no lookup, the key refused). With an Idempotency-Key a resend answers the created user.
 */
function keyedCreateTests(harness: () => Harness): void {
  const keyed = (key: string, client = "client-a") => ({
    "idempotency-key": key,
    "x-ordersaga-client": client,
  });

  it("answers a resend with the same Idempotency-Key and body with the created user (201, Idempotent-Replayed)", async () => {
    const h = harness();
    const body = { email: "Kay@x.test", name: "Kay" };
    const first = await h.call("POST", "/users", body, keyed("k-1"));
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const again = await h.call("POST", "/users", body, keyed("k-1"));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    // Another client's same key is another key: its create meets the taken email.
    expect((await h.call("POST", "/users", body, keyed("k-1", "client-b"))).status).toBe(409);
    await eventsOf(h, "user.created", 1);
    expect(h.observer.of("user.created")).toHaveLength(1);
  });

  it("refuses the same Idempotency-Key with another body (422 IDEMPOTENCY_KEY_REUSED) and names a malformed key", async () => {
    const h = harness();
    await h.call("POST", "/users", { email: "r@x.test", name: "R" }, keyed("k-2"));
    const reused = await h.call("POST", "/users", { email: "r@x.test", name: "Other" }, keyed("k-2"));
    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ error: { code: "IDEMPOTENCY_KEY_REUSED" } });
    const bad = await h.call("POST", "/users", { email: "nope", name: "" }, keyed("a b"));
    expect(bad.status).toBe(400);
    const details = (bad.body.error as { details: { path: string }[] }).details.map((d) => d.path);
    expect(details).toContain("header:Idempotency-Key");
  });

  it("creates one user for ten concurrent requests with one Idempotency-Key: every answer is it", async () => {
    const h = harness();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        h.call("POST", "/users", { email: "many@x.test", name: "M" }, keyed("k-3")),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    await eventsOf(h, "user.created", 1);
    expect(h.observer.of("user.created")).toHaveLength(1);
  });

  it("answers a resend after the user was deleted with 404, marked as a replay (nothing created again)", async () => {
    const h = harness();
    const body = { email: "del@x.test", name: "D" };
    const id = String((await h.call("POST", "/users", body, keyed("k-4"))).body.id);
    expect((await h.call("DELETE", `/users/${id}`)).status).toBe(204);
    const again = await h.call("POST", "/users", body, keyed("k-4"));
    expect(again.status).toBe(404);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    await eventsOf(h, "user.created", 1);
    expect(h.observer.of("user.created")).toHaveLength(1);
  });
}

describe("user service (memory platform)", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(createMemoryPlatform());
  });
  afterEach(async () => {
    await stopHarness(h);
  });

  it("creates a user (201), serves it in clear, and emits user.created with the lower-cased email and phone sealed", async () => {
    const created = await h.call("POST", "/users", {
      email: "Ann@X.test",
      name: "Ann",
      phone: "+1 555 0142",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      email: "ann@x.test",
      name: "Ann",
      preferences: { email: true, push: true, sms: false },
    });
    const id = String(created.body.id);
    expect((await h.call("GET", `/users/${id}`)).body).toEqual(created.body);
    expect(created.body.phone).toBe("+1 555 0142");
    const [event] = await eventsOf(h, "user.created", 1);
    const payload = event?.payload as Record<string, string>;
    expect(payload).toEqual({
      userId: id,
      email: expect.stringMatching(/^enc1\./),
      name: "Ann",
      phone: expect.stringMatching(/^enc1\./),
      preferences: created.body.preferences,
      version: 1,
    });
    expect(JSON.stringify(payload)).not.toMatch(/ann@x\.test|555 0142/i);
    // This process's keys (the development default) are the service's: they open it, for this user only.
    const cipher = userDataCipherFromEnv();
    expect(cipher.open(id, "email", payload.email!)).toBe("ann@x.test");
    expect(cipher.open(id, "phone", payload.phone!)).toBe("+1 555 0142");
    expect(() => cipher.open("someone-else", "email", payload.email!)).toThrow(/authentication failed/);
    expect(event?.source.service).toBe("user");
  });

  describe("Idempotency-Key on POST /users", () => keyedCreateTests(() => h));

  it("rejects an invalid body with 400 and its issues", async () => {
    const response = await h.call("POST", "/users", { email: "not-an-email", name: "" });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: "VALIDATION_FAILED" } });
  });

  it("answers 409 EMAIL_TAKEN for an email already registered, whatever its case", async () => {
    await h.call("POST", "/users", { email: "dup@x.test", name: "A" });
    const second = await h.call("POST", "/users", { email: "DUP@x.test", name: "B" });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ error: { code: "EMAIL_TAKEN" } });
  });

  it("lets exactly one of 10 parallel creates with one email succeed", async () => {
    expect(await createManyWithOneEmail(h)).toEqual([201, ...Array(9).fill(409)]);
  });

  it("updates partially, emits user.updated with the changed fields, and nothing for a no-op", async () => {
    const id = String((await h.call("POST", "/users", { email: "u@x.test", name: "U" })).body.id);
    const first = await h.call("PUT", `/users/${id}`, { name: "Renamed", preferences: { push: false } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      name: "Renamed",
      preferences: { email: true, push: false, sms: false },
    });
    expect((await h.call("PUT", `/users/${id}`, { name: "Renamed" })).status).toBe(200);
    await h.call("PUT", `/users/${id}`, { phone: "+1 555 0100" });
    const updates = await eventsOf(h, "user.updated", 2);
    expect(updates.map((e) => (e.payload as { changed: string[] }).changed)).toEqual([
      ["name", "preferences"],
      ["phone"],
    ]);
  });

  // break13 F8: PUT {"phone": null} was 400 "expected string, received null": a phone could not be removed.
  it("removes the phone on PUT {phone: null}: gone from GET, user.updated carries no phone and names it changed", async () => {
    const created = await h.call("POST", "/users", { email: "p@x.test", name: "P", phone: "+15550001111" });
    const id = String(created.body.id);
    const removed = await h.call("PUT", `/users/${id}`, { phone: null });
    expect(removed.status).toBe(200);
    expect(removed.body).not.toHaveProperty("phone");
    const read = await h.call("GET", `/users/${id}`);
    expect(read.body).not.toHaveProperty("phone");
    expect(read.body).toMatchObject({ email: "p@x.test", name: "P" });
    // Removing it again changes nothing: 200, no second event.
    expect((await h.call("PUT", `/users/${id}`, { phone: null })).status).toBe(200);
    const [update] = await eventsOf(h, "user.updated", 1);
    expect(update?.payload).toEqual({
      userId: id,
      email: expect.stringMatching(/^enc1\./),
      name: "P",
      preferences: created.body.preferences,
      changed: ["phone"],
      version: 2,
    });
    await h.call("PUT", `/users/${id}`, { name: "Q" });
    await eventsOf(h, "user.updated", 2);
    expect(h.observer.of("user.updated")).toHaveLength(2);
    // Only null removes: an empty string is still refused.
    expect((await h.call("PUT", `/users/${id}`, { phone: "" })).status).toBe(400);
  });

  it("emits each user event with the record's version: 1 at creation, one more per write, races included", async () => {
    await expectVersionedEvents(h);
  });

  it("answers 404 for an unknown user and 409 when an update takes another user's email", async () => {
    expect((await h.call("GET", "/users/nobody")).status).toBe(404);
    // Break10: an id with a control character is refused with the id's format, not looked up.
    for (const method of ["GET", "PUT", "DELETE"]) {
      const bad = await h.call(method, "/users/%00", method === "PUT" ? { name: "X" } : undefined);
      expect(bad.status, method).toBe(400);
      expect(JSON.stringify(bad.body), method).toMatch(/VALIDATION_FAILED.*visible ASCII/);
    }
    expect((await h.call("PUT", "/users/nobody", { name: "X" })).status).toBe(404);
    await h.call("POST", "/users", { email: "a@x.test", name: "A" });
    const b = String((await h.call("POST", "/users", { email: "b@x.test", name: "B" })).body.id);
    expect((await h.call("PUT", `/users/${b}`, { email: "A@x.test" })).status).toBe(409);
  });

  it("deletes a user (204): gone, its email free again, user.deleted emitted once", async () => {
    const id = String((await h.call("POST", "/users", { email: "d@x.test", name: "D" })).body.id);
    expect((await h.call("DELETE", `/users/${id}`)).status).toBe(204);
    expect((await h.call("GET", `/users/${id}`)).status).toBe(404);
    expect((await h.call("DELETE", `/users/${id}`)).status).toBe(404);
    expect((await h.call("POST", "/users", { email: "d@x.test", name: "D2" })).status).toBe(201);
    const deleted = await eventsOf(h, "user.deleted", 1);
    expect(deleted[0]?.payload).toEqual({ userId: id });
  });

  it("validates an order's user: valid, deleted or not_found", async () => {
    const active = String((await h.call("POST", "/users", { email: "v@x.test", name: "V" })).body.id);
    const gone = String((await h.call("POST", "/users", { email: "g@x.test", name: "G" })).body.id);
    await h.call("DELETE", `/users/${gone}`);
    const order = testPublisher(h.platform);
    await order.publish("user.validation.requested", { orderId: "o-active", userId: active });
    await order.publish("user.validation.requested", { orderId: "o-gone", userId: gone });
    await order.publish("user.validation.requested", { orderId: "o-none", userId: "nobody" });
    await waitFor(() => h.observer.of("user.validated").length === 3);
    expect(answers(h, "o-active")).toEqual([{ orderId: "o-active", userId: active, valid: true }]);
    expect(answers(h, "o-gone")).toEqual([
      { orderId: "o-gone", userId: gone, valid: false, reason: "deleted" },
    ]);
    expect(answers(h, "o-none")).toEqual([
      { orderId: "o-none", userId: "nobody", valid: false, reason: "not_found" },
    ]);
  });

  it("answers a validation request delivered twice (same message, and a re-sent copy) once", async () => {
    const order = testPublisher(h.platform);
    const request = order.prepare("user.validation.requested", { orderId: "o-dup", userId: "u-x" });
    await h.platform.transport.publish([request.message, request.message]);
    await order.publish("user.validation.requested", { orderId: "o-dup", userId: "u-x" });
    await order.publish("user.validation.requested", { orderId: "o-sentinel", userId: "u-x" });
    await waitFor(() => answers(h, "o-sentinel").length === 1);
    await sleep(50);
    expect(answers(h, "o-dup")).toHaveLength(1);
  });
});

describeWithRedis("user service (Redis platform)", (getRedis) => {
  let h: Harness;
  beforeEach(async () => {
    await getRedis().flush();
    h = await startHarness(createRedisPlatform({ url: getRedis().url }));
  });
  afterEach(async () => {
    await stopHarness(h);
  });

  it("creates, validates and deletes a user, with events on the streams", async () => {
    const id = String((await h.call("POST", "/users", { email: "R@x.test", name: "R" })).body.id);
    expect((await h.call("GET", `/users/${id}`)).body).toMatchObject({ id, email: "r@x.test" });
    const order = testPublisher(h.platform);
    await order.publish("user.validation.requested", { orderId: "o-r", userId: id });
    await order.publish("user.validation.requested", { orderId: "o-r", userId: id });
    await waitFor(() => answers(h, "o-r").length === 1);
    expect(answers(h, "o-r")[0]).toMatchObject({ valid: true });
    expect((await h.call("DELETE", `/users/${id}`)).status).toBe(204);
    await waitFor(
      () => h.observer.of("user.created").length === 1 && h.observer.of("user.deleted").length === 1,
    );
    await order.publish("user.validation.requested", { orderId: "o-r2", userId: id });
    await waitFor(() => answers(h, "o-r2").length === 1);
    expect(answers(h, "o-r2")[0]).toMatchObject({ valid: false, reason: "deleted" });
    expect(answers(h, "o-r")).toHaveLength(1);
  });

  it("emits each user event with the record's version: 1 at creation, one more per write, races included", async () => {
    await expectVersionedEvents(h);
  });

  it("lets exactly one of 10 parallel creates with one email succeed", async () => {
    expect(await createManyWithOneEmail(h)).toEqual([201, ...Array(9).fill(409)]);
    await waitFor(() => h.observer.of("user.created").length === 1);
  });

  describe("Idempotency-Key on POST /users", () => keyedCreateTests(() => h));

  it("keeps an Idempotency-Key's record 24 h, under a name that shows neither the key nor the client", async () => {
    await h.call("POST", "/users", { email: "ttl@x.test", name: "T" }, { "idempotency-key": "secret-key-1" });
    const redis = getRedis().client();
    const [record] = await redis.keys("{user}:idem:*");
    expect(record).toMatch(/^\{user\}:idem:[0-9a-f]{64}$/);
    const ttl = await redis.pttl(record!);
    expect(ttl).toBeGreaterThan(23 * 3_600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3_600_000);
    // The record holds the user id and a keyed digest of the body: not the email.
    expect(await redis.get(record!)).not.toMatch(/ttl@x\.test/);
  });

  // break13 F8: the stored record loses its sealed phone too.
  it("drops the sealed phone from the stored record on PUT {phone: null}", async () => {
    const created = await h.call("POST", "/users", { email: "p@x.test", name: "P", phone: "+15550001111" });
    const id = String(created.body.id);
    const stored = async () =>
      JSON.parse((await getRedis().client().hget(userKey(id), "data")) ?? "{}") as Record<string, unknown>;
    expect((await stored()).phone).toMatch(/^enc1\./);
    expect((await h.call("PUT", `/users/${id}`, { phone: null })).status).toBe(200);
    const after = await stored();
    expect(after).not.toHaveProperty("phone");
    expect(after.email).toMatch(/^enc1\./);
    expect((await h.call("GET", `/users/${id}`)).body).not.toHaveProperty("phone");
  });

  it("names a user stored under a data key it lacks (USER_DATA_UNREADABLE), not a bare 500 INTERNAL", async () => {
    // Written by a process with other keys: what a restart with new development keys left behind.
    const other = userDataCipherFromEnv(generateUserDataKeys("udk-other"), { withIndex: true });
    await new RedisUserStore(getRedis().client(), other).create(
      newUser({ email: "old@x.test", name: "Old" }, "u-old", new Date(0).toISOString()),
      [],
    );
    const res = await h.call("GET", "/users/u-old");
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ error: { code: "USER_DATA_UNREADABLE" } });
    expect(JSON.stringify(res.body)).toMatch(/unknown key id \\"udk-other\\".*USER_DATA_KEYS/);
  });

  // break35 F4: deleting went through a read that opened the email, so a user sealed under a dropped
  // key answered 500 to DELETE: it could not be erased and its email stayed claimed for good.
  it("deletes a user sealed under a data key it no longer holds (204) and frees its email", async () => {
    // The same email index key as the service, another data key: what dropping a USER_DATA_KEYS entry leaves.
    const dropped = userDataCipherFromEnv(
      {
        USER_DATA_KEYS: generateUserDataKeys("udk-dropped").USER_DATA_KEYS,
        USER_EMAIL_INDEX_KEY: userDataSetting(process.env, "USER_EMAIL_INDEX_KEY"),
      },
      { withIndex: true },
    );
    await new RedisUserStore(getRedis().client(), dropped).create(
      newUser({ email: "gone@x.test", name: "Gone" }, "u-dropped", new Date(0).toISOString()),
      [],
    );
    expect((await h.call("GET", "/users/u-dropped")).body).toMatchObject({
      error: { code: "USER_DATA_UNREADABLE" },
    });
    const deleted = await h.call("DELETE", "/users/u-dropped");
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect((await h.call("GET", "/users/u-dropped")).status).toBe(404);
    expect((await h.call("POST", "/users", { email: "gone@x.test", name: "New" })).status).toBe(201);
    await waitFor(() => h.observer.of("user.deleted").length === 1);
    expect(h.observer.of("user.deleted")[0]?.payload).toEqual({ userId: "u-dropped" });
  });
});
