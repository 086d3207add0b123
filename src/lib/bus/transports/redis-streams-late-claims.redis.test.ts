/**
 * A claim, own resume or local retry whose reply this process handles only after a freeze longer
 * than claimIdleMs (SIGSTOP, a long GC, a blocked event loop) must not run an entry another
 * consumer took over meanwhile (break-bus7 F1). The freeze is simulated deterministically: the
 * client's EVALSHA of the script under test is wrapped so that, once its reply carrying the entry
 * has arrived, the event loop is blocked past claimIdleMs while redis-cli (a second consumer)
 * XCLAIMs and XACKs the entry; only then is the reply handed on.
 */
import { execFileSync } from "node:child_process";
import { Redis } from "ioredis";
import { afterEach, expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import type { LuaScript } from "../../redis/index.js";
import type { Delivery } from "../transport.js";
import { eventStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { claimIdleScript, claimOwnScript, readOwnPendingScript } from "./redis-streams-scripts.js";
import { failureOf, messageOf, uniqueName, uniqueTopic, warningRecorder } from "./transport-contract.js";

const CLAIM_IDLE_MS = 2_000;

describeWithRedis(
  "an entry handed out by a reply read after a freeze longer than claimIdleMs",
  (getRedis) => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
    });

    const cli = (...args: string[]) =>
      execFileSync("redis-cli", ["-p", String(getRedis().port), ...args], { encoding: "utf8" }).trim();

    /**
     * A transport whose client freezes the process on the first reply of `script` that carries
     * `target()`, while consumer "other" takes that entry over and finishes it.
     */
    const setup = async (script: LuaScript, consumer: string, react: (d: Delivery) => Promise<void>) => {
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const key = eventStreamKey(ref.owner, ref.topic);
      cli("XGROUP", "CREATE", key, group, "0", "MKSTREAM");
      cli("SCRIPT", "LOAD", script.source); // EVALSHA finds it: no NOSCRIPT fallback to EVAL
      const { warnings, logger } = warningRecorder();
      let target: string | undefined;
      let takenOver = false;
      const client = new Redis(getRedis().url);
      const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = async (
        ...args: unknown[]
      ) => {
        const sentAt = performance.now();
        const reply = await evalsha(...args);
        if (args[0] === script.sha && target && !takenOver && JSON.stringify(reply).includes(target)) {
          while (performance.now() < sentAt + CLAIM_IDLE_MS + 200) {
            /* frozen: longer than claimIdleMs */
          }
          expect(cli("XCLAIM", key, group, "other", String(CLAIM_IDLE_MS), target, "JUSTID")).toBe(target);
          expect(cli("XACK", key, group, target)).toBe("1");
          takenOver = true;
        }
        return reply;
      };
      const transport = new RedisStreamsTransport({
        redis: client,
        deadLetters: new MemoryDeadLetterStore(),
        claimIdleMs: CLAIM_IDLE_MS,
        claimIntervalMs: 100,
        blockMs: 200,
        logger,
      });
      cleanups.push(async () => {
        await transport.close();
        client.disconnect();
      });
      const runs: { id: string; attempt: number }[] = [];
      const subscribe = () =>
        transport.subscribe({ group, consumer, topics: [ref] }, async (d) => {
          runs.push({ id: d.deliveryId, attempt: d.attempt });
          await react(d);
        });
      const add = (n: number) => cli("XADD", key, "*", "b", messageOf(ref, n).body);
      /** Waits until the frozen reply was dealt with: the entry ran again, or was found taken over. */
      const settled = (runsBefore = 0) =>
        waitFor(
          () =>
            takenOver &&
            (runs.filter((r) => r.id === target).length > runsBefore ||
              warnings.some((m) => m.includes("taken over meanwhile"))),
          20_000,
          "the late reply to be dealt with",
        );
      return {
        key,
        group,
        cli,
        add,
        subscribe,
        runs,
        warnings,
        settled,
        setTarget: (id: string) => (target = id),
      };
    };

    it("is not run after an idle claim whose reply came late", { timeout: 40_000 }, async () => {
      const t = await setup(claimIdleScript, "a", (d) => d.ack());
      const id = t.add(1);
      t.setTarget(id);
      cli("XREADGROUP", "GROUP", t.group, "dead", "COUNT", "1", "STREAMS", t.key, ">"); // a dead consumer's entry
      await t.subscribe();
      await t.settled();
      expect(t.runs.filter((r) => r.id === id)).toEqual([]);
    });

    it("is not run after an own resume at start whose reply came late", { timeout: 40_000 }, async () => {
      const t = await setup(readOwnPendingScript, "a", (d) => d.ack());
      const id = t.add(1);
      t.setTarget(id);
      cli("XREADGROUP", "GROUP", t.group, "a", "COUNT", "1", "STREAMS", t.key, ">"); // a's previous process
      await t.subscribe();
      await t.settled();
      expect(t.runs.filter((r) => r.id === id)).toEqual([]);
    });

    it("is not run again by a local retry whose claim reply came late", { timeout: 40_000 }, async () => {
      const t = await setup(claimOwnScript, "a", (d) =>
        d.attempt === 1 ? d.retry(failureOf(1), 300) : d.ack(),
      );
      await t.subscribe();
      const id = t.add(1);
      t.setTarget(id);
      await t.settled(1);
      expect(t.runs.filter((r) => r.id === id).map((r) => r.attempt)).toEqual([1]);
    });
  },
);
