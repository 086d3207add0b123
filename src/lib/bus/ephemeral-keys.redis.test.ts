/**
 * newuser13 F3: two processes written from the README's library bullets without BUS_SIGNING_KEYS
 * each signed with keys made up in-process, and the subscriber dead-lettered every message as
 * SIGNATURE_INVALID without a word (a bare Subscriber has no logger). Now the first publish or the
 * start of a verifying subscriber over Redis with such keys warns, once per process; in memory (one
 * process) or with configured keys it says nothing. Each test loads the modules afresh: the
 * process keyring and the once-per-process flag are module state.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { describeWithRedis } from "../../test-support/redis.js";
import type { Redis } from "ioredis";
import type { BusLogger } from "./context.js";

const CODE = "BUS_EPHEMERAL_KEYS";
const KEY = Buffer.alloc(32, 7).toString("base64");

async function fresh() {
  vi.resetModules();
  const { Publisher } = await import("./publisher.js");
  const { Subscriber } = await import("./subscriber.js");
  const { ShopEvents } = await import("./test-events.js");
  const { MemoryTransport } = await import("./transports/memory.js");
  const { RedisStreamsTransport } = await import("./transports/redis-streams.js");
  const { getProcessKeyring, EPHEMERAL_KEYS_WARNING } = await import("../security/process-keys.js");
  const { createVerifier } = await import("../security/signing.js");
  return {
    Publisher,
    Subscriber,
    ShopEvents,
    MemoryTransport,
    RedisStreamsTransport,
    getProcessKeyring,
    EPHEMERAL_KEYS_WARNING,
    createVerifier,
  };
}

/** The process warnings with this change's code emitted so far. */
function processWarnings() {
  const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
  return () =>
    spy.mock.calls.filter(([, options]) => (options as { code?: string } | undefined)?.code === CODE);
}

function recordingLogger() {
  const warnings: { code?: string; message: string }[] = [];
  const logger: BusLogger = {
    debug: () => {},
    info: () => {},
    warn: (obj: object, message?: string) =>
      void warnings.push({ ...(obj as { code?: string }), message: message ?? "" }),
    error: () => {},
    child: () => logger,
  };
  return { warnings, logger };
}

/** A verifying Subscriber with a recording logger, started over Redis Streams. */
async function startVerifying(m: Awaited<ReturnType<typeof fresh>>, redis: Redis) {
  const { warnings, logger } = recordingLogger();
  const transport = new m.RedisStreamsTransport({
    redis,
    deadLetters: new MemoryDeadLetterStore(),
    blockMs: 100,
  });
  const subscriber = new m.Subscriber({
    events: m.ShopEvents,
    transport,
    group: "g",
    consumer: "c",
    logger,
    verifier: m.createVerifier(m.getProcessKeyring()),
  }).on("item.added", () => {});
  await subscriber.start();
  return { warnings, transport, subscriber };
}

beforeEach(() => {
  vi.stubEnv("BUS_SIGNING_KEYS", "");
  vi.stubEnv("BUS_SIGNING_KEYS_FILE", "");
  vi.stubEnv("NODE_ENV", "test");
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describeWithRedis("keys made up in this process, over Redis", (getRedis) => {
  it("the first publish warns once per process (stderr: the bare library has no logger)", async () => {
    await getRedis().flush();
    const m = await fresh();
    const warned = processWarnings();
    const transport = new m.RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
    });
    const publisher = new m.Publisher({
      events: m.ShopEvents,
      transport,
      source: { service: "shop", instance: "a" },
    });
    expect(warned()).toHaveLength(0);
    await publisher.publish("item.added", { sku: "s-1", quantity: 1 });
    await publisher.publish("item.added", { sku: "s-2", quantity: 1 });
    const again = new m.Publisher({
      events: m.ShopEvents,
      transport,
      source: { service: "shop", instance: "b" },
    });
    await again.publish("item.added", { sku: "s-3", quantity: 1 });
    expect(warned()).toHaveLength(1);
    expect(String(warned()[0]![0])).toBe(m.EPHEMERAL_KEYS_WARNING);
    expect(m.EPHEMERAL_KEYS_WARNING).toContain("BUS_SIGNING_KEYS");
    await transport.close();
  });

  it("a verifying subscriber warns at start, to its logger when it has one", async () => {
    await getRedis().flush();
    const m = await fresh();
    const warned = processWarnings();
    const { warnings, transport, subscriber } = await startVerifying(m, getRedis().client());
    expect(warnings.filter((w) => w.code === CODE)).toEqual([
      { code: CODE, message: m.EPHEMERAL_KEYS_WARNING },
    ]);
    expect(warned()).toHaveLength(0);
    await subscriber.stop();
    await transport.close();
  });

  it("with BUS_SIGNING_KEYS set: no warning", async () => {
    await getRedis().flush();
    vi.stubEnv("BUS_SIGNING_KEYS", `shop:k1:${KEY}`);
    const m = await fresh();
    const warned = processWarnings();
    const { warnings, transport, subscriber } = await startVerifying(m, getRedis().client());
    await new m.Publisher({
      events: m.ShopEvents,
      transport,
      source: { service: "shop", instance: "a" },
    }).publish("item.added", { sku: "s-1", quantity: 1 });
    expect(warnings.filter((w) => w.code === CODE)).toHaveLength(0);
    expect(warned()).toHaveLength(0);
    await subscriber.stop();
    await transport.close();
  });
});

describe("keys made up in this process, in memory (one process)", () => {
  it("no warning: every publisher and subscriber shares the keys", async () => {
    const m = await fresh();
    const warned = processWarnings();
    const transport = new m.MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
    const subscriber = new m.Subscriber({
      events: m.ShopEvents,
      transport,
      group: "g",
      consumer: "c",
      verifier: m.createVerifier(m.getProcessKeyring()),
    }).on("item.added", () => {});
    await subscriber.start();
    await new m.Publisher({
      events: m.ShopEvents,
      transport,
      source: { service: "shop", instance: "a" },
    }).publish("item.added", { sku: "s-1", quantity: 1 });
    expect(warned()).toHaveLength(0);
    await subscriber.stop();
    await transport.close();
  });
});
