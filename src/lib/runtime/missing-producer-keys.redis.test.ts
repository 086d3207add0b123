/**
 * Newuser9 F9: a service started next to a running system without its producers' keys started
 * silently and dead-lettered every message `SIGNATURE_INVALID: unknown key id`. Now it says so at
 * start in one line naming the producers and the variable, or refuses to start in production.
 */
import { Writable } from "node:stream";
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { createLogger } from "../observability/logger.js";
import { Keyring } from "../security/keyring.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";

const Theirs = defineEvents("producer", {
  "producer.happened": { schema: z.object({ n: z.number() }), description: "sent by another process" },
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ service: "listener", level: "info", destination }) };
}

describeWithRedis("a service without the key of a producer it subscribes to", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await platform?.close();
  });

  async function startListener(keyring: Keyring, production: boolean) {
    platform = createRedisPlatform({ url: getRedis().url });
    const { lines, logger } = capture();
    const started = startService(
      {
        name: "listener",
        version: "1.0.0",
        create: (deps) => ({
          subscribers: [deps.subscriber().on("producer.happened", () => undefined) as never],
        }),
      },
      { events: Theirs, platform, port: 0, logger, keyring, production },
    );
    return { started, lines };
  }

  const warnings = (lines: Record<string, unknown>[]) =>
    lines.filter((l) => l.level === "warn" && String(l.msg).includes("no signing key"));

  it("warns in one line naming the producer and BUS_SIGNING_KEYS (development)", async () => {
    const { started, lines } = await startListener(Keyring.generate(["listener"]), false);
    service = await started;
    expect(warnings(lines), JSON.stringify(lines)).toEqual([
      expect.objectContaining({
        producers: ["producer"],
        msg: expect.stringMatching(/of producer, .*BUS_SIGNING_KEYS/),
      }),
    ]);
  });

  it("refuses to start in production", async () => {
    const { started } = await startListener(Keyring.generate(["listener"]), true);
    await expect(started).rejects.toThrow(/listener has no signing key of producer/);
  });

  it("says nothing when the keyring has the producer's key", async () => {
    const { started, lines } = await startListener(Keyring.generate(["listener", "producer"]), true);
    service = await started;
    expect(warnings(lines)).toEqual([]);
  });
});
