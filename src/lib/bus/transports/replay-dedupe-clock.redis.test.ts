/**
 * Review 2 of issue 10, finding 7, on a real Redis: the memory of replays already sent to a group
 * (DLQ retries, sent at most once within REPLAY_DEDUPE_MS) is kept on Redis's clock. A gateway
 * whose host clock is two days off neither forgets the replays another gateway just sent (and sends
 * them again) nor has its own forgotten by the other.
 */
import { afterEach, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { RedisDeadLetterStore } from "../../dlq/redis-dead-letter-store.js";
import { REPLAY_DEDUPE_MS } from "../transport.js";
import { redeliverStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";

const replay = (replayId: string) => ({
  replayId,
  message: { topic: "order.created", owner: "order", id: `env-${replayId}`, body: "{}" },
});

describeWithRedis("replay dedupe clock", (getRedis) => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("sends each replay once across gateways whose host clocks disagree by two days", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const transport = new RedisStreamsTransport({ redis, deadLetters: new RedisDeadLetterStore(redis) });
    const real = Date.now.bind(Date);
    const skewed = async (offsetMs: number, replayId: string) => {
      const spy = vi.spyOn(Date, "now").mockImplementation(() => real() + offsetMs);
      try {
        return await transport.redeliverOnce("inventory", [replay(replayId)]);
      } finally {
        spy.mockRestore();
      }
    };
    const skew = 2 * REPLAY_DEDUPE_MS;
    // Sent by a gateway with a right clock, then again (a rerun) by one two days ahead: once.
    expect(await skewed(0, "r-1")).toBe(1);
    expect(await skewed(skew, "r-1")).toBe(0);
    // Sent by a gateway two days behind, then again by one with a right clock: once.
    expect(await skewed(-skew, "r-2")).toBe(1);
    expect(await skewed(0, "r-2")).toBe(0);
    expect(await redis.xlen(redeliverStreamKey("inventory"))).toBe(2);
    await transport.close();
  });
});
