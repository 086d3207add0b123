/**
 * A consumer process that stalls (SIGSTOP, as a long GC or a CPU-starved container would) for
 * longer than `claimIdleMs` loses its in-flight entries to a peer's idle claim, over real processes
 * (consumer-process.fixture.ts, BEHAVIOUR "pace"). Each taken-over entry has one silent delivery,
 * so the peer ran it as a crash suspect: the first in line held the peer's own healthy traffic off
 * while it waited up to `isolationMs` for the peer's slow handlers, then each ran alone in turn.
 * But the stalled process did not crash: it wakes up, finds its leases lost and records that its
 * runs were alive (Dispatcher.recordStall); the peer's suspects, re-reading that record while they
 * wait, leave the suspect line and run as ordinary runs, not counted as crashes. A process that
 * was killed writes nothing: its entries stay suspects, run alone and counted, as before.
 */
import type { ChildProcess } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { recordCommands } from "../../test-support/redis-monitor.js";
import { waitFor } from "../../test-support/wait.js";
import { ITEM_STREAM, itemStream, killConsumer, startConsumer } from "./consumer-process.supervisor.js";
import { FIELD_BODY } from "./transports/redis-stream-keys.js";

/** Takeovers in about a second, renewals (and the suspects' re-reads) every 200 ms. */
const CLAIM_IDLE_MS = 1_000;
/** Large, so a suspect's wait and hold show: the healthy traffic would wait for it. */
const ISOLATION_MS = 20_000;
/** The slow handlers: the peer's own ones are still running when the stalled one's entries reach it. */
const SLOW_MS = 10_000;
/**
 * The bound on a healthy message's latency: far below what a suspect's wait and solo run cost (the
 * peer's slow handlers' remaining time, then SLOW_MS alone per taken-over entry: 10 s and more),
 * with a margin for a loaded machine (stalls of over a second seen with no hold at all).
 */
const MAX_LATENCY_MS = 5_000;

describeWithRedis("a consumer process that stalls past claimIdleMs, over real processes", (getRedis) => {
  /**
   * Consumer A (3 slots) runs 3 slow messages, consumer B 2 slow ones of its own; then A stalls
   * (SIGSTOP, then SIGCONT once B's idle claim took its entries) or is killed (SIGKILL), while
   * healthy messages are sent every 100 ms until 30 were sent after the takeover. Returns the
   * healthy messages' highest latency (ms), the ids of A's entries and those counted alone (an
   * INCR of their soloRunsKey: run as crash suspects with the process to themselves).
   */
  async function takeover(fault: "SIGSTOP" | "SIGKILL") {
    await getRedis().flush();
    const redis = getRedis().client();
    const { deadLetters, transport, publish, pending } = await itemStream(redis, ["stall"]);
    const env = {
      REDIS_URL: getRedis().url,
      GROUP: "stall",
      BEHAVIOUR: "pace",
      SLOW_MS: String(SLOW_MS),
      CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
      RENEW_MS: "200",
      ISOLATION_MS: String(ISOLATION_MS),
    };
    const children: ChildProcess[] = [];
    const sentAt = new Map<string, number>();
    let sent = 0;
    let traffic: NodeJS.Timeout | undefined;
    const recorder = await recordCommands(redis);
    const startedBy = async (consumer: string) =>
      Object.entries(await redis.hgetall("startedBy"))
        .filter(([, by]) => by === consumer)
        .map(([sku]) => sku);
    try {
      // A, with 3 slots, takes the 3 slow messages and reads nothing more.
      const a = await startConsumer({ ...env, CONSUMER: "slot-a", CONCURRENCY: "3" });
      children.push(a);
      for (const sku of ["slow-a1", "slow-a2", "slow-a3"]) await publish(sku);
      await waitFor(async () => (await startedBy("slot-a")).length === 3, 90_000, "A's slow handlers");
      // B has slow handlers of its own in flight: a suspect would wait for them.
      const b = await startConsumer({ ...env, CONSUMER: "slot-b" });
      children.push(b);
      for (const sku of ["slow-b1", "slow-b2"]) await publish(sku);
      await waitFor(async () => (await startedBy("slot-b")).length === 2, 90_000, "B's slow handlers");

      a.kill(fault);
      traffic = setInterval(() => {
        const sku = `ok-${sent++}`;
        sentAt.set(sku, Date.now());
        void publish(sku);
      }, 100);
      const skus = (await redis.xrange(ITEM_STREAM, "-", "+")).map(
        ([id, fields]) =>
          [id, JSON.parse(fields[fields.indexOf(FIELD_BODY) + 1] ?? "{}").payload?.sku as string] as const,
      );
      const aIds = skus.filter(([, sku]) => sku.startsWith("slow-a")).map(([id]) => id);
      const ownedByB = async () => {
        const rows = (await redis.xpending(ITEM_STREAM, "stall", "-", "+", 100, "slot-b")) as [string][];
        return aIds.every((id) => rows.some(([pendingId]) => pendingId === id));
      };
      // B's idle claim takes A's entries (A renews nothing while stopped or dead); A wakes up.
      await waitFor(ownedByB, 30_000, "B to take A's entries over");
      const claimedAt = sent;
      if (fault === "SIGSTOP") a.kill("SIGCONT");
      await waitFor(() => sent >= claimedAt + 30, 30_000, "healthy traffic after the takeover");
      clearInterval(traffic);

      const handled = async () => {
        const done = await redis.hgetall("done");
        return Array.from({ length: sent }, (_, i) => `ok-${i}`).every((sku) => done[sku] !== undefined);
      };
      await waitFor(handled, 90_000, "every healthy message handled");
      await waitFor(
        async () => (await pending("stall")) === 0,
        60_000,
        "every message handled and acked, nothing pending in the group",
      );
      const handledAt = await redis.hgetall("handledAt");
      const latencies = [...sentAt].map(([sku, at]) => Number(handledAt[sku]) - at).sort((x, y) => x - y);
      const maxLatency = latencies.at(-1) ?? 0;
      console.info(
        `${fault}: healthy latency over ${latencies.length} messages: p50 ${latencies[latencies.length >> 1]} ms, max ${maxLatency} ms`,
      );

      // Every message handled (A's by A or B or both) and acked; none parked; B alive.
      const done = await redis.hgetall("done");
      for (const sku of ["slow-a1", "slow-a2", "slow-a3", "slow-b1", "slow-b2"])
        expect(Number(done[sku]), sku).toBeGreaterThanOrEqual(1);
      expect(await deadLetters.list({})).toEqual([]);
      expect(b.exitCode).toBeNull();
      const commands = await recorder.stop();
      const countedAlone = commands
        .filter((c) => c.name === "incr" && c.args[0]?.includes(":solo:"))
        .map((c) => c.args[0]!.slice(c.args[0]!.lastIndexOf(":") + 1));
      return { maxLatency, aIds, countedAlone };
    } finally {
      clearInterval(traffic);
      await recorder.stop().catch(() => undefined);
      for (const child of children) {
        child.kill("SIGCONT");
        await killConsumer(child);
      }
      await transport.close();
    }
  }

  it("does not make its peer hold its healthy traffic off: the taken-over entries run as ordinary ones", async () => {
    const { maxLatency, countedAlone } = await takeover("SIGSTOP");
    expect(maxLatency).toBeLessThan(MAX_LATENCY_MS);
    // Not counted as crashes: no run of them counted alone (soloRunsKey).
    expect(countedAlone).toEqual([]);
  }, 180_000);

  it("killed instead (SIGKILL), leaves its entries crash suspects: each runs alone in its peer, counted", async () => {
    const { maxLatency, aIds, countedAlone } = await takeover("SIGKILL");
    expect([...new Set(countedAlone)].sort()).toEqual([...aIds].sort());
    // Each held the healthy traffic off while it ran alone (SLOW_MS).
    expect(maxLatency).toBeGreaterThan(SLOW_MS / 2);
  }, 240_000);
});
