/**
 * A Redis CLIENT PAUSE longer than claimIdleMs (what a manual failover does) keeps connections up:
 * no reconnect, no failed renewal, yet every pending entry is idle past claimIdleMs when it ends.
 * The idle claim queued during the pause, or sent right after it, must not take over the entries
 * of a live owner still running them (break20 F3: each slow message ran twice at once).
 */
import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

const CLAIM_IDLE_MS = 2_000;

describeWithRedis("a Redis pause longer than claimIdleMs", (getRedis) => {
  for (const mode of ["ALL", "WRITE"]) {
    it(
      `(${mode}) lets no consumer take over a live owner's running entries`,
      { timeout: 40_000 },
      async () => {
        const cli = (...args: string[]) =>
          execFileSync("redis-cli", ["-p", String(getRedis().port), ...args], { encoding: "utf8" }).trim();
        const ref = uniqueTopic();
        const group = uniqueName("g");
        const starts = new Map<string, number>();
        let done = 0;
        const transports = ["a", "b"].map(
          () =>
            new RedisStreamsTransport({
              redis: getRedis().client(),
              deadLetters: new MemoryDeadLetterStore(),
              claimIdleMs: CLAIM_IDLE_MS,
              claimIntervalMs: 100,
              blockMs: 200,
            }),
        );
        for (const [i, transport] of transports.entries()) {
          await transport.subscribe(
            { group, consumer: `c${i}`, topics: [ref], concurrency: 4 },
            async (d) => {
              starts.set(d.deliveryId, (starts.get(d.deliveryId) ?? 0) + 1);
              await new Promise((r) => setTimeout(r, 3 * CLAIM_IDLE_MS + 2_000));
              await d.ack();
              done++;
            },
          );
        }
        await transports[0]!.publish([1, 2, 3, 4].map((n) => messageOf(ref, n)));
        await waitFor(() => starts.size === 4, 10_000, "all four running");
        cli("CLIENT", "PAUSE", String(CLAIM_IDLE_MS + 1_500), mode);
        await waitFor(() => done >= 4, 30_000, "all four handled");
        await new Promise((r) => setTimeout(r, CLAIM_IDLE_MS));
        expect([...starts.values()]).toEqual([1, 1, 1, 1]);
        for (const transport of transports) await transport.close();
      },
    );
  }
});
