import type { Redis } from "ioredis";
import { afterEach, expect, it, vi } from "vitest";
import { createRedisPlatform, type Platform } from "../runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { ReplyLostError } from "./resend-guard.js";

const INCR_SCRIPT = "return redis.call('INCR', KEYS[1])";

describeWithRedis("a connection drop between a command and its reply", (getRedis) => {
  let platform: Platform | undefined;
  afterEach(async () => {
    await platform?.close();
    platform = undefined;
  });

  /** The platform's command connection, and the same through `duplicate()`. */
  const connections = async (): Promise<Redis[]> => {
    platform = createRedisPlatform({ url: getRedis().url });
    const main = platform.redis!;
    const copy = main.duplicate();
    copy.on("error", () => {});
    await Promise.all([main.ping(), copy.ping()]);
    return [main, copy];
  };

  /**
   * Sends `command` with the socket's reading paused, waits until Redis has run it (`ran`), then
   * drops the connection: the reply is lost, as when a network or Redis blip cuts it mid-flight.
   */
  const withLostReply = async <T>(
    redis: Redis,
    command: () => Promise<T>,
    ran: () => Promise<boolean>,
  ): Promise<PromiseSettledResult<T>> => {
    redis.stream.pause();
    const outcome = Promise.allSettled([command()]);
    await waitFor(ran, 10_000, "the command to run on Redis");
    redis.stream.destroy();
    const [settled] = await outcome;
    return settled!;
  };

  it("a script that wrote runs once: its caller gets ReplyLostError instead of a second run", async () => {
    const admin = getRedis().client();
    for (const [i, redis] of (await connections()).entries()) {
      const key = `rg:script:${i}`;
      const settled = await withLostReply(
        redis,
        () => redis.eval(INCR_SCRIPT, 1, key),
        async () => (await admin.get(key)) === "1",
      );

      expect(settled.status).toBe("rejected");
      expect((settled as PromiseRejectedResult).reason).toBeInstanceOf(ReplyLostError);
      // The connection is back and the write ran once: a later command sees 1, not 2.
      expect(await redis.get(key)).toBe("1");
    }
  });

  it("a MULTI with a write runs once and fails whole", async () => {
    const admin = getRedis().client();
    const [redis] = await connections();
    const settled = await withLostReply(
      redis!,
      () => redis!.multi().incr("rg:multi").get("rg:multi").exec(),
      async () => (await admin.get("rg:multi")) === "1",
    );

    expect(settled.status).toBe("rejected");
    expect(await redis!.get("rg:multi")).toBe("1");
  });

  it("a read and a read-only MULTI are sent again and answered", async () => {
    const admin = getRedis().client();
    await admin.set("rg:read", "v");
    const [redis] = await connections();
    const seen = async (name: string) =>
      ((await admin.call("INFO", "commandstats")) as string).includes(`cmdstat_${name}:`);
    await admin.config("RESETSTAT");

    const get = await withLostReply(
      redis!,
      () => redis!.get("rg:read"),
      () => seen("get"),
    );
    expect(get).toEqual({ status: "fulfilled", value: "v" });

    await admin.config("RESETSTAT");
    const multi = await withLostReply(
      redis!,
      () => redis!.multi().get("rg:read").strlen("rg:read").exec(),
      () => seen("exec"),
    );
    expect(multi).toEqual({
      status: "fulfilled",
      value: [
        [null, "v"],
        [null, 1],
      ],
    });
  });

  it("a write safe to repeat (DEL, a plain SET, XACK) is sent again and answered", async () => {
    const admin = getRedis().client();
    const [redis] = await connections();
    await admin.set("rg:del", "token key");
    const del = await withLostReply(
      redis!,
      () => redis!.del("rg:del"),
      async () => (await admin.exists("rg:del")) === 0,
    );
    expect(del.status).toBe("fulfilled"); // the shred is done, not a ReplyLostError left to a 7-day TTL

    const set = await withLostReply(
      redis!,
      () => redis!.set("rg:set", "v", "PX", 60_000),
      async () => (await admin.get("rg:set")) === "v",
    );
    expect(set).toEqual({ status: "fulfilled", value: "OK" });

    await admin.xadd("rg:stream", "1-1", "f", "v");
    await admin.xgroup("CREATE", "rg:stream", "g", "0");
    await admin.xreadgroup("GROUP", "g", "c", "STREAMS", "rg:stream", ">");
    const pending = async () => ((await admin.xpending("rg:stream", "g")) as [number])[0];
    const ack = await withLostReply(
      redis!,
      () => redis!.xack("rg:stream", "g", "1-1"),
      async () => (await pending()) === 0,
    );
    expect(ack.status).toBe("fulfilled");
  });

  it("SET NX GET (a claim) is not sent again: its caller gets ReplyLostError", async () => {
    const admin = getRedis().client();
    const [redis] = await connections();
    const settled = await withLostReply(
      redis!,
      () => redis!.call("SET", "rg:claim", "mine", "NX", "PX", "60000", "GET"),
      async () => (await admin.exists("rg:claim")) === 1,
    );
    expect((settled as PromiseRejectedResult).reason).toBeInstanceOf(ReplyLostError);
  });

  it("a duplicate's connection errors reach the platform's error listener, not ioredis's stderr print", async () => {
    const errors: Error[] = [];
    platform = createRedisPlatform({ url: getRedis().url, onError: (error) => errors.push(error) });
    const copy = platform.redis!.duplicate(); // no listener of its own, like the order service's background
    await copy.ping();
    const printed = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      copy.stream.destroy(new Error("read ECONNRESET (test)"));
      await waitFor(
        () => errors.some((e) => e.message.includes("read ECONNRESET (test)")),
        5_000,
        "the error at the platform's listener",
      );
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      copy.disconnect();
    }
  });
});
