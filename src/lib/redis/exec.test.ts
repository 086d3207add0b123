import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { execOrThrow, RedisExecAbortedError } from "./exec.js";

describeWithRedis("execOrThrow", (getRedis) => {
  it("returns each command's reply in order", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    expect(await execOrThrow(redis.pipeline().set("{t}:a", "1").incr("{t}:a").get("{t}:a"))).toEqual([
      "OK",
      2,
      "2",
    ]);
  });

  it("throws the error of a failed command, which exec() alone would only report", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    await expect(execOrThrow(redis.multi().set("{t}:s", "text").incr("{t}:s"))).rejects.toThrow(
      /not an integer/,
    );
  });

  it("throws a retryable error when a WATCHed key changed and the MULTI did not run", async () => {
    const redis = getRedis().client();
    const other = getRedis().client();
    await redis.flushall();
    await redis.watch("{t}:w");
    await other.set("{t}:w", "changed");
    const aborted = execOrThrow(redis.multi().set("{t}:w", "mine"));
    await expect(aborted).rejects.toBeInstanceOf(RedisExecAbortedError);
    await expect(aborted).rejects.toMatchObject({ code: "REDIS_TRANSACTION_ABORTED", retryable: true });
    expect(await redis.get("{t}:w")).toBe("changed");
  });
});
