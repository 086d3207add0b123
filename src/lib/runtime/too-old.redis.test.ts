/**
 * A message older than the services' dedupe marks (`MARKER_TTL_MS`) is refused, not run: a DLQ
 * replay of a command whose marks expired would otherwise do its work again (re-reserve stock of a
 * failed order). It is dead-lettered with the typed reason and counted.
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { childTraceparent, encodeEnvelope, newMessageId } from "../bus/envelope.js";
import { defineEvents } from "../bus/events.js";
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

  it("dead-letters a replayed message older than MARKER_TTL_MS as TOO_OLD_TO_DEDUPLICATE, without running it", async () => {
    // Long enough that a loaded machine's delays never make the young messages old.
    const markerTtlMs = 600_000;
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
});
