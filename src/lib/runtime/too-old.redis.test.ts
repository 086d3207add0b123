/**
 * A message the group may have handled before, older than the services' dedupe marks
 * (`MARKER_TTL_MS`), is refused, not run: a DLQ replay of a command whose marks expired would
 * otherwise do its work again (re-reserve stock of a failed order). It is dead-lettered with the
 * typed reason and counted. Every delivery is dated by its signed creation time (a verbatim copy
 * of a genuine entry re-added after the marks expired is refused: break-sig F2), with a clock-skew
 * margin; a first delivery of a backlog inside the window runs, and so does its retry: a
 * redelivery's window counts from the entry's first delivery when it is known.
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { childTraceparent, encodeEnvelope, newMessageId } from "../bus/envelope.js";
import { BusError } from "../bus/errors.js";
import { defineEvents } from "../bus/events.js";
import {
  eventStreamFields,
  eventStreamKey,
  redeliverStreamKey,
} from "../bus/transports/redis-stream-keys.js";
import { getProcessKeyring } from "../security/process-keys.js";
import { createSigner } from "../security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";

const Events = defineEvents("aged", {
  "aged.reserve": { schema: z.object({ n: z.number() }), description: "a command with an effect" },
});

const signer = createSigner(getProcessKeyring(), "aged");

/** A UUIDv7 message id made at `ms`, as the publisher of the original message stamped it. */
function idAt(ms: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-000000000001`;
}

function message(id: string, n: number) {
  const body = encodeEnvelope({
    id,
    event: "aged.reserve",
    version: 1,
    occurredAt: new Date().toISOString(),
    source: { service: "aged", instance: "aged-1" },
    correlationId: `c-${n}`,
    traceparent: childTraceparent(),
    attributes: {},
    payload: { n },
  });
  // Signed by its owner, as every real message is: the age, not the signature, is what is refused.
  return { topic: "aged.reserve", owner: "aged", id, body: signer.sign(body, "aged") };
}

describeWithRedis("the dedupe window of a service's subscribers", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    await platform?.close();
  });

  // Long enough that a loaded machine's delays never make the young messages old.
  const markerTtlMs = 600_000;

  /**
   * The "aged" service on a fresh Redis: records each attempt; numbers in `failOnce` fail their
   * first attempt. `before` runs on the platform before the service (and its group) starts.
   */
  async function startAged(failOnce: ReadonlySet<number> = new Set(), before?: () => Promise<void>) {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url, retention: { markerTtlMs } });
    await before?.();
    const attempts: number[] = [];
    service = await startService(
      {
        name: "aged",
        version: "1.0.0",
        create: (deps) => ({
          subscribers: [
            deps.subscriber().on("aged.reserve", (p, ctx) => {
              attempts.push(p.n);
              if (failOnce.has(p.n) && ctx.attempt === 1)
                throw new BusError("FLAKY", `first attempt of ${p.n} fails`, { retryable: true });
            }) as never,
          ],
        }),
      },
      { events: Events, platform, port: 0, logLevel: "silent" },
    );
    return attempts;
  }

  const redisTimeMs = async () => Number((await platform!.redis!.time())[0]) * 1000;

  /** Adds entries to the event's stream with ids `at + i` (Redis would have given them then). */
  async function addBacklog(at: number, ns: readonly number[]) {
    const key = eventStreamKey("aged", "aged.reserve");
    for (const [i, n] of ns.entries())
      await platform!.redis!.xadd(key, `${at + i}-0`, ...eventStreamFields(message(idAt(at + i), n)));
  }

  it("handles a publisher's fresh messages when its clock is behind (inside the window), also on a retry", async () => {
    const attempts = await startAged(new Set([2]));
    const publisherClock = (await redisTimeMs()) - markerTtlMs / 2;
    await platform!.transport.publish([
      message(idAt(publisherClock), 1),
      message(idAt(publisherClock + 1), 2),
    ]);
    await waitFor(() => attempts.length >= 3, 60_000, "both handled, the second on its retry");
    expect(attempts.sort()).toEqual([1, 2, 2]);
    expect(await platform!.deadLetters.list()).toEqual([]);
    const metrics = await service!.metrics.metricsText();
    expect(metrics).not.toMatch(/ordersaga_messages_too_old_total\{[^}]*\} [1-9]/);
  }, 150_000);

  it("handles a backlog inside the window on its first delivery, and retries one that failed (its window counts from its first delivery)", async () => {
    // A backlog of entries added half a marker lifetime ago (Redis gave them those ids), unread since.
    const attempts = await startAged(new Set([13]), async () => {
      const at = (await redisTimeMs()) - markerTtlMs / 2;
      await addBacklog(at, [0, 11, 12, 13]);
    });
    // 0, 11, 12 ran once; 13 ran once and failed: its retry runs, since any mark of its first
    // attempt is as young as that first delivery.
    await waitFor(() => attempts.length >= 5, 60_000, "the backlog handled, 13 on its retry");
    expect([...attempts].sort((a, b) => a - b)).toEqual([0, 11, 12, 13, 13]);
    expect(await platform!.deadLetters.list()).toEqual([]);
    const metrics = await service!.metrics.metricsText();
    expect(metrics).not.toMatch(/ordersaga_messages_too_old_total\{[^}]*\} [1-9]/);
  }, 150_000);

  it("dates a fresh genuine message by its signature, not by an entry id set in the future: one planted entry (or a Redis clock that ran ahead) does not make every later message too old (break37 F1)", async () => {
    const ran = await startAged();
    const redisNow = await redisTimeMs();
    // Someone who can write the stream (or a Redis clock days ahead, since corrected) leaves an
    // entry whose id is past Redis TIME by two windows: every later `XADD *` gets an id above it.
    const key = eventStreamKey("aged", "aged.reserve");
    await platform!.redis!.xadd(key, `${redisNow + 2 * markerTtlMs}-0`, "junk", "x");
    await platform!.transport.publish([message(newMessageId(), 1)]);
    // And on the replay path (a DLQ retry's redeliver stream), which an operator's recovery takes.
    const redeliver = redeliverStreamKey("aged");
    await platform!.redis!.xadd(
      redeliver,
      `${redisNow + 2 * markerTtlMs}-0`,
      "t",
      "aged.reserve",
      "o",
      "aged",
      "b",
      "junk",
    );
    await platform!.transport.redeliver("aged", message(newMessageId(), 2));

    await waitFor(() => ran.length >= 2, 60_000, "both fresh messages handled");
    expect(ran.sort()).toEqual([1, 2]);
    const refused = (await platform!.deadLetters.list()).filter((r) =>
      r.attempts.some((a) => a.error.code === "TOO_OLD_TO_DEDUPLICATE"),
    );
    expect(refused).toEqual([]);
  }, 150_000);

  it("dead-letters a replayed message older than MARKER_TTL_MS as TOO_OLD_TO_DEDUPLICATE, without running it", async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url, retention: { markerTtlMs } });
    const ran: number[] = [];
    service = await startService(
      {
        name: "aged",
        version: "1.0.0",
        create: (deps) => ({
          subscribers: [deps.subscriber().on("aged.reserve", (p) => void ran.push(p.n)) as never],
        }),
      },
      { events: Events, platform, port: 0, logLevel: "silent" },
    );
    const [seconds] = await platform.redis!.time();
    const redisNow = Number(seconds) * 1000;
    // A DLQ retry: a new entry in the group's redeliver stream, carrying a message made long ago.
    await platform.transport.redeliver("aged", message(idAt(redisNow - 2 * markerTtlMs), 1));
    // Young ones still run, replayed or not.
    await platform.transport.redeliver("aged", message(idAt(redisNow - markerTtlMs / 4), 2));
    await platform.transport.publish([message(newMessageId(), 3)]);

    const [record] = await waitFor(
      async () => {
        const records = await platform!.deadLetters.list();
        return records.length > 0 ? records : undefined;
      },
      60_000,
      "the dead letter",
    );
    await waitFor(() => ran.length >= 2, 60_000, "the young messages handled");
    expect(ran.sort()).toEqual([2, 3]);
    expect(record).toMatchObject({ group: "aged", topic: "aged.reserve" });
    expect(record!.attempts.at(-1)?.error.code).toBe("TOO_OLD_TO_DEDUPLICATE");
    expect(record!.reason).toMatch(/can no longer be deduplicated/);
    const metrics = await service.metrics.metricsText();
    expect(metrics).toMatch(/ordersaga_messages_too_old_total\{[^}]*event="aged.reserve"[^}]*\} 1/);
  }, 150_000);

  it("dead-letters a verbatim copy of a genuine signed entry re-added after the marks' window (a first delivery), counted as rejected, without running it", async () => {
    const ran = await startAged();
    const redisNow = await redisTimeMs();
    // The bytes of an entry the owner signed long ago, XADDed again (`*`: a brand-new entry id) by
    // someone who can write Redis but holds no key; a young copy next to it still runs.
    const key = eventStreamKey("aged", "aged.reserve");
    await platform!.redis!.xadd(key, "*", ...eventStreamFields(message(idAt(redisNow - 2 * markerTtlMs), 1)));
    await platform!.redis!.xadd(key, "*", ...eventStreamFields(message(idAt(redisNow - 1_000), 2)));

    const [record] = await waitFor(
      async () => {
        const records = await platform!.deadLetters.list();
        return records.length > 0 ? records : undefined;
      },
      60_000,
      "the dead letter",
    );
    await waitFor(() => ran.length >= 1, 60_000, "the young message handled");
    expect(ran).toEqual([2]);
    expect(record!.attempts.at(-1)?.error.code).toBe("TOO_OLD_TO_DEDUPLICATE");
    const metrics = await service!.metrics.metricsText();
    expect(metrics).toMatch(/ordersaga_messages_too_old_total\{[^}]*event="aged.reserve"[^}]*\} 1/);
    expect(metrics).toMatch(
      /ordersaga_bus_messages_rejected_total\{[^}]*reason="TOO_OLD_TO_DEDUPLICATE"[^}]*\} 1/,
    );
  }, 150_000);

  it("dead-letters a genuine entry signed past the skew margin in the future (CREATED_IN_FUTURE), counts it; the operator's retry once its time has come runs once, and a copy re-added after its mark expired does not run twice (break-late F5, break9 F1)", async () => {
    await getRedis().flush();
    // Short marks (margin: a tenth, 400 ms) so the handler's mark expires within the test.
    const shortTtlMs = 4_000;
    platform = createRedisPlatform({ url: getRedis().url, retention: { markerTtlMs: shortTtlMs } });
    const redis = platform.redis!;
    const effects: number[] = [];
    service = await startService(
      {
        name: "aged",
        version: "1.0.0",
        create: (deps) => ({
          subscribers: [
            deps.subscriber().on("aged.reserve", async (p) => {
              // The handler's dedupe mark, written with its effect, living MARKER_TTL_MS.
              if ((await redis.set(`{aged}:mark:${p.n}`, "1", "PX", shortTtlMs, "NX")) === "OK")
                effects.push(p.n);
            }) as never,
          ],
        }),
      },
      { events: Events, platform, port: 0, logLevel: "silent" },
    );
    const redisNowMs = async () => {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };
    // Stamped by a publisher whose clock is 2 s ahead of Redis (5 times the margin).
    const signedAt = (await redisNowMs()) + 2_000;
    const original = message(idAt(signedAt), 1);
    await platform.transport.publish([original]);
    const deadLetters = async (n: number) =>
      waitFor(
        async () => {
          const list = await platform!.deadLetters.list();
          return list.length >= n || effects.length > 1 ? list : undefined;
        },
        60_000,
        `${n} dead letter(s)`,
      );
    const [refused] = await deadLetters(1);
    expect(effects).toEqual([]);
    expect(refused!.attempts.at(-1)?.error.code).toBe("CREATED_IN_FUTURE");

    // The operator's retry once its signed time is within the margin: it runs.
    await waitFor(async () => (await redisNowMs()) > signedAt - 400, 30_000, "its time come");
    await platform.transport.redeliver("aged", original);
    await waitFor(() => effects.length === 1, 60_000, "the retried message handled");

    // The mark gone, the same signed bytes XADDed again (a brand-new entry): refused, not run.
    await waitFor(async () => (await redis.exists("{aged}:mark:1")) === 0, 30_000, "the mark expired");
    await redis.xadd(eventStreamKey("aged", "aged.reserve"), "*", ...eventStreamFields(original));
    const records = await deadLetters(2);
    expect(effects).toEqual([1]);
    expect(records.map((r) => r.attempts.at(-1)?.error.code).sort()).toEqual([
      "CREATED_IN_FUTURE",
      "TOO_OLD_TO_DEDUPLICATE",
    ]);
    const metrics = await service.metrics.metricsText();
    expect(metrics).toMatch(/ordersaga_messages_created_in_future_total\{[^}]*event="aged.reserve"[^}]*\} 1/);
  }, 150_000);

  it("dead-letters a flood of future-dated messages without holding them (no timer each) or delaying a normal message (break9 F1)", async () => {
    const ran = await startAged();
    const flood = 2_000;
    const aheadAt = (await redisTimeMs()) + 180_000; // a publisher whose time is 3 min ahead
    const timeouts = () => process.getActiveResourcesInfo().filter((t) => t === "Timeout").length;
    const baseline = timeouts();
    let mostTimeouts = baseline;
    const sampler = setInterval(() => (mostTimeouts = Math.max(mostTimeouts, timeouts())), 20);
    try {
      for (let i = 0; i < flood; i += 500)
        await platform!.transport.publish(
          Array.from({ length: 500 }, (_, j) => message(idAt(aheadAt + i + j), 1_000 + i + j)),
        );
      const sentAt = Date.now();
      await platform!.transport.publish([message(newMessageId(), 1)]);
      await waitFor(() => ran.includes(1), 60_000, "the normal message handled");
      const latencyMs = Date.now() - sentAt;
      // Normal latency on a loaded 2-core machine, not the minutes a deferred flood cost.
      expect(latencyMs).toBeLessThan(20_000);
      // Held per message, the flood would be ~2 000 timers; bounded: a few of the service's own.
      expect(mostTimeouts - baseline).toBeLessThan(100);
      await waitFor(
        async () => ((await platform!.deadLetters.list()).length === flood ? true : undefined),
        120_000,
        "the flood dead-lettered",
      );
      expect(mostTimeouts - baseline).toBeLessThan(100);
      expect(ran).toEqual([1]);
    } finally {
      clearInterval(sampler);
    }
    const metrics = await service!.metrics.metricsText();
    expect(metrics).toMatch(
      new RegExp(`ordersaga_messages_created_in_future_total\\{[^}]*event="aged.reserve"[^}]*\\} ${flood}`),
    );
  }, 240_000);
});
