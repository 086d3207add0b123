/**
 * break20 F2: a Subscriber built as the README's standalone section showed it had no verifier and
 * ran anything written to its streams (an unsigned XADD included), without a word. Now a start
 * without a verifier warns (its logger; no logger: a process warning, once), `verifier: null` opts
 * out on purpose, and a verifier dead-letters the unsigned entry.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { waitFor } from "../../test-support/wait.js";
import { Keyring } from "../security/keyring.js";
import { createVerifier } from "../security/signing.js";
import type { BusLogger } from "./context.js";
import { Subscriber, UNVERIFIED_WARNING } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";

function recordingLogger() {
  const warnings: string[] = [];
  const logger: BusLogger = {
    debug: () => {},
    info: () => {},
    warn: (_: object, message?: string) => void warnings.push(message ?? ""),
    error: () => {},
    child: () => logger,
  };
  return { warnings, logger };
}

const transports: MemoryTransport[] = [];
function subscriberWith(options: {
  verifier?: ReturnType<typeof createVerifier> | null;
  logger?: BusLogger;
}) {
  const deadLetters = new MemoryDeadLetterStore();
  const transport = new MemoryTransport({ deadLetters });
  transports.push(transport);
  const handled: string[] = [];
  const subscriber = new Subscriber({
    events: TestEvents,
    transport,
    group: "g",
    consumer: "c",
    ...options,
  }).on("item.added", ({ sku }) => void handled.push(sku));
  return { subscriber, transport, deadLetters, handled };
}

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
  vi.restoreAllMocks();
});

/** An entry added by hand (`XADD`), not signed. */
const unsigned = {
  topic: "item.added",
  owner: "shop",
  id: "forged-1",
  body: JSON.stringify({
    id: "01a23075-8eca-7460-94e3-f700897750c1",
    event: "item.added",
    version: 1,
    occurredAt: new Date().toISOString(),
    source: { service: "attacker", instance: "p-1" },
    correlationId: "x",
    traceparent: "00-f24995bb86eb1a8feae6ffacfb8d6fa0-451047aad3fe4f2f-01",
    attributes: {},
    payload: { sku: "forged", quantity: 1 },
  }),
};

describe("a Subscriber's verifier", () => {
  it("left out: start() warns that messages are not verified", async () => {
    const { warnings, logger } = recordingLogger();
    const { subscriber } = subscriberWith({ logger });
    await subscriber.start();
    expect(warnings.filter((w) => w.startsWith(UNVERIFIED_WARNING))).toHaveLength(1);
    await subscriber.stop();
  });

  it("null (on purpose): no warning", async () => {
    const { warnings, logger } = recordingLogger();
    const { subscriber } = subscriberWith({ logger, verifier: null });
    await subscriber.start();
    expect(warnings).toEqual([]);
    await subscriber.stop();
  });

  it("given: no warning, and an unsigned entry is dead-lettered as SIGNATURE_INVALID, not run", async () => {
    const { warnings, logger } = recordingLogger();
    const verifier = createVerifier(new Keyring([], true));
    const { subscriber, transport, deadLetters, handled } = subscriberWith({ logger, verifier });
    await subscriber.start();
    await transport.publish([unsigned]);
    await waitFor(
      async () => (await deadLetters.list({ group: "g" })).length === 1,
      5_000,
      "the dead letter",
    );
    const [letter] = await deadLetters.list({ group: "g" });
    expect(letter?.reason).toMatch(/^SIGNATURE_INVALID/);
    expect(handled).toEqual([]);
    expect(warnings.filter((w) => w.startsWith(UNVERIFIED_WARNING))).toEqual([]);
    await subscriber.stop();
  });

  it("left out with no logger (the library is silent then): one process warning, however many start", async () => {
    const emitted = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    for (let i = 0; i < 2; i++) {
      const { subscriber } = subscriberWith({});
      await subscriber.start();
      await subscriber.stop();
    }
    const ours = emitted.mock.calls.filter(([m]) => String(m).startsWith(UNVERIFIED_WARNING));
    expect(ours).toHaveLength(1);
  });
});
