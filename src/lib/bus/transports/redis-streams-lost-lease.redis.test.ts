/**
 * A handler still running on an entry another consumer took over (this one looked dead: a freeze
 * past claimIdleMs) is reported once, and its entry is no longer renewed or asked about on every
 * renewal round (break-bus7 F2: ~360 warnings and script calls per entry with the defaults).
 */
import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { eventStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("a running handler whose lease another consumer took", (getRedis) => {
  it("is reported lost once, not on every renewal round", { timeout: 40_000 }, async () => {
    const cli = (...args: string[]) =>
      execFileSync("redis-cli", ["-p", String(getRedis().port), ...args], { encoding: "utf8" }).trim();
    const lostWarnings: unknown[] = [];
    const logger = {
      debug: () => {},
      info: () => {},
      warn: (fields: object, message?: string) => {
        if (message?.startsWith("lease lost")) lostWarnings.push(fields);
      },
      error: () => {},
    };
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      claimIdleMs: 60_000, // no idle claim by this consumer during the test
      renewIntervalMs: 20,
      blockMs: 200,
      logger,
    });
    // Renewal rounds are counted by the other entry's renewals (one "renewed" per round).
    let rounds = 0;
    transport.onLeaseActivity((a) => {
      if (a.kind === "renewed") rounds++;
    });
    const ref = uniqueTopic();
    const group = uniqueName("g");
    const key = eventStreamKey(ref.owner, ref.topic);
    const running: string[] = [];
    let release = () => {};
    const released = new Promise<void>((r) => (release = r));
    await transport.subscribe({ group, consumer: "a", topics: [ref], concurrency: 2 }, async (d) => {
      running.push(d.deliveryId);
      await released;
      await d.ack();
    });
    await transport.publish([messageOf(ref, 1), messageOf(ref, 2)]);
    await waitFor(() => running.length === 2, 10_000, "both handlers running");
    // Another consumer takes the first entry over (as after a freeze of this one).
    expect(cli("XCLAIM", key, group, "other", "0", running[0]!, "JUSTID")).toBe(running[0]);
    await waitFor(() => lostWarnings.length >= 1, 10_000, "the lost lease reported");
    const after = rounds;
    await waitFor(() => rounds >= after + 10, 20_000, "ten more renewal rounds");
    expect(lostWarnings).toHaveLength(1);
    release();
    await transport.close();
  });
});
