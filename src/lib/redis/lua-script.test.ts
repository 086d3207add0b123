import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { LuaScript } from "./lua-script.js";

const INCR_BY = new LuaScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`);

describeWithRedis("LuaScript", (getRedis) => {
  it("runs on a server that has never seen it, then from the script cache", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    await redis.script("FLUSH");
    expect(await INCR_BY.run(redis, ["{t}:n"], [2])).toBe(2);
    expect(await redis.script("EXISTS", INCR_BY.sha)).toEqual([1]);
    expect(await INCR_BY.run(redis, ["{t}:n"], [3])).toBe(5);
  });

  it("loads the script again after the server forgot it", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    await INCR_BY.run(redis, ["{t}:n"], [1]);
    await redis.script("FLUSH");
    expect(await INCR_BY.run(redis, ["{t}:n"], [1])).toBe(2);
  });

  it("does not run a script twice when its own error mentions NOSCRIPT", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const failing = new LuaScript(
      `redis.call('INCR', KEYS[1]) return redis.error_reply('ERR NOSCRIPT here')`,
    );
    await expect(failing.run(redis, ["{t}:n"], [])).rejects.toThrow("NOSCRIPT here");
    expect(await redis.get("{t}:n")).toBe("1");
  });

  it("rethrows errors other than NOSCRIPT", async () => {
    const redis = getRedis().client();
    const broken = new LuaScript(`return redis.call('NOSUCHCOMMAND')`);
    await expect(broken.run(redis, [], [])).rejects.toThrow();
  });
});
