import { Socket } from "node:net";
import { afterEach, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { CoalescingRedis } from "./coalescing-redis.js";

describeWithRedis("CoalescingRedis", (getRedis) => {
  const clients: CoalescingRedis[] = [];
  const connect = async () => {
    const redis = new CoalescingRedis(getRedis().url, { maxRetriesPerRequest: null });
    redis.on("error", () => {});
    clients.push(redis);
    await redis.ping();
    return redis;
  };
  afterEach(() => {
    vi.restoreAllMocks();
    for (const c of clients.splice(0)) c.disconnect();
  });

  /** Writes `redis`'s socket hands to the system while `work` runs (`_write`/`_writev`: a syscall each). */
  const writesDuring = async (redis: CoalescingRedis, work: () => Promise<unknown>): Promise<number> => {
    let writes = 0;
    type Internal = Record<"_write" | "_writev", (...a: never[]) => void>;
    const proto = Socket.prototype as unknown as Internal;
    for (const name of ["_write", "_writev"] as const) {
      const original = proto[name];
      vi.spyOn(proto, name).mockImplementation(function (this: Socket, ...args: never[]) {
        if (this === redis.stream) writes++;
        return original.apply(this, args);
      });
    }
    await work();
    return writes;
  };

  it("sends the commands issued in one turn in one socket write, each with its own reply", async () => {
    const redis = await connect();
    let replies: unknown[] = [];
    const writes = await writesDuring(redis, async () => {
      replies = await Promise.all([
        redis.set("co:a", "1"),
        redis.incr("co:n"),
        redis.multi().set("co:b", "2").get("co:b").exec(),
        Promise.resolve().then(() => redis.get("co:a")),
      ]);
    });

    expect(writes).toBe(1);
    expect(replies).toEqual([
      "OK",
      1,
      [
        [null, "OK"],
        [null, "2"],
      ],
      "1",
    ]);
  });

  it("keeps the order of commands across turns and pipelines", async () => {
    const redis = await connect();
    await redis.del("co:list");
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      if (i % 5 === 0) sent.push(redis.pipeline().rpush("co:list", `p${i}`).exec());
      else sent.push(redis.rpush("co:list", String(i)));
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(sent);

    expect(await redis.lrange("co:list", 0, -1)).toEqual(
      Array.from({ length: 20 }, (_, i) => (i % 5 === 0 ? `p${i}` : String(i))),
    );
  });

  it("keeps working after its connection drops", async () => {
    const redis = await connect();
    await redis.set("co:x", "1");
    redis.stream.destroy();
    await expect(redis.get("co:x")).resolves.toBe("1");
    expect(await Promise.all([redis.incr("co:y"), redis.incr("co:y")])).toEqual([1, 2]);
  });
});
