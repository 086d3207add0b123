import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { LuaScript } from "../../redis/index.js";
import type { OutgoingMessage } from "../transport.js";
import { OUTBOX_LUA, outboxArgs } from "./redis-outbox.js";
import { eventStreamKey, FIELD_BODY } from "./redis-stream-keys.js";

const message = (topic: string, body: string): OutgoingMessage => ({ topic, owner: "svc", id: body, body });

// KEYS: mark, streams. ARGV: mark value, bodies.
const MARK_AND_EMIT = new LuaScript(`${OUTBOX_LUA}
redis.call('SET', KEYS[1], ARGV[1])
outbox(2, 2)
return 1`);

// KEYS: streams, then another key. ARGV: how many streams to append to, bodies.
const EMIT_FIRST = new LuaScript(`${OUTBOX_LUA}
outbox(1, 2, tonumber(ARGV[1]))
return 1`);

it("lists one stream key and one body per message, in order", () => {
  const args = outboxArgs([message("a.x", "b1"), message("b.y", "b2")]);
  expect(args).toEqual({
    keys: [eventStreamKey("svc", "a.x"), eventStreamKey("svc", "b.y")],
    bodies: ["b1", "b2"],
  });
  expect(outboxArgs([message("a.x", "b1")], (m) => `k:${m.topic}`).keys).toEqual(["k:a.x"]);
});

describeWithRedis("OUTBOX_LUA", (getRedis) => {
  it("appends each body to its stream with the transport's body field, with the script's own write", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const { keys, bodies } = outboxArgs([message("a.x", "b1"), message("a.x", "b2"), message("b.y", "b3")]);
    await MARK_AND_EMIT.run(redis, ["{svc}:mark", ...keys], ["1", ...bodies]);
    expect(await redis.get("{svc}:mark")).toBe("1");
    const fields = async (key: string) => (await redis.xrange(key, "-", "+")).map(([, f]) => f);
    expect(await fields(eventStreamKey("svc", "a.x"))).toEqual([
      [FIELD_BODY, "b1"],
      [FIELD_BODY, "b2"],
    ]);
    expect(await fields(eventStreamKey("svc", "b.y"))).toEqual([[FIELD_BODY, "b3"]]);
  });

  it("appends to only the n streams it is given when keys follow them", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const { keys, bodies } = outboxArgs([message("a.x", "b1"), message("b.y", "b2")]);
    await EMIT_FIRST.run(redis, [...keys, "{svc}:after"], [1, ...bodies]);
    expect(await redis.xlen(eventStreamKey("svc", "a.x"))).toBe(1);
    expect(await redis.xlen(eventStreamKey("svc", "b.y"))).toBe(0);
    expect(await redis.exists("{svc}:after")).toBe(0);
  });

  // Redis does not undo a script's earlier writes when a later command fails (newuser17 F1).
  it("writes no stream when one of them cannot be appended to (another type): the check before the first XADD", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const { keys, bodies } = outboxArgs([message("a.x", "b1"), message("b.y", "b2")]);
    await redis.set(eventStreamKey("svc", "b.y"), "not a stream");
    await expect(EMIT_FIRST.run(redis, keys, [2, ...bodies])).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.xlen(eventStreamKey("svc", "a.x"))).toBe(0);
  });
});
