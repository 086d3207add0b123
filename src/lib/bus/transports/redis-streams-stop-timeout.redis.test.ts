/**
 * break20 F7: stop() waited for ever for a handler that never settled (and kept renewing its lease,
 * so no other instance could take the message). `stop({ timeoutMs })` returns after that long; the
 * entry stays pending, no longer renewed, and another consumer takes it over once idle.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { sleep, waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import type { Delivery } from "../transport.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("stop with a timeout while a handler hangs", (getRedis) => {
  it("returns after timeoutMs; the entry stays pending and another consumer takes it over", async () => {
    const options = {
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      claimIdleMs: 600,
      blockMs: 100,
    };
    const hung = new RedisStreamsTransport(options);
    const other = new RedisStreamsTransport(options);
    const ref = uniqueTopic();
    const group = uniqueName("g");
    let started = 0;
    const taken: Delivery[] = [];
    try {
      const subscription = await hung.subscribe({ group, consumer: "hung", topics: [ref] }, () => {
        started++;
        return new Promise<void>(() => {}); // never settles
      });
      await hung.publish([messageOf(ref, 1)]);
      await waitFor(() => started === 1, 5_000, "the hung handler to start");
      const at = performance.now();
      const outcome = await Promise.race([
        subscription.stop({ timeoutMs: 300 }).then(() => "stopped"),
        sleep(5_000).then(() => "still waiting"),
      ]);
      // Before: "still waiting" (stop() took no timeout and waited for the handler).
      expect(outcome).toBe("stopped");
      expect(performance.now() - at).toBeLessThan(2_000);
      // Its lease is no longer renewed: a live consumer takes the entry over once idle.
      await other.subscribe({ group, consumer: "other", topics: [ref] }, async (delivery) => {
        taken.push(delivery);
        await delivery.ack();
      });
      await waitFor(() => taken.length === 1, 10_000, "the takeover");
      expect(JSON.parse(taken[0]!.body)).toMatchObject({ n: 1 });
    } finally {
      await other.close();
      await Promise.race([hung.close(), sleep(1_000)]);
    }
  }, 30_000);
});
