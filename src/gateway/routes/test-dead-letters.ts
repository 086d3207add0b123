/**
 * For the DLQ route tests: dead-lettered records of the `payment` group, and a gateway per test with
 * a `payment` consumer that records what a retry redelivers.
 */
import { afterEach, beforeEach } from "vitest";
import type { TransportSubscription } from "../../lib/bus/transport.js";
import { type DeadLetterRecord, deadLetterId } from "../../lib/dlq/dead-letter-store.js";
import { startTestGateway, type TestGateway } from "../test-upstream.js";

/** A record the `payment` group dead-lettered (an invalid envelope), not retried yet. */
export function deadLetter(options: {
  deliveryId: string;
  deadLetteredAt: string;
  body: string;
  event?: string;
}): DeadLetterRecord {
  const { deliveryId, deadLetteredAt, body, event = "order.placed" } = options;
  return {
    id: deadLetterId("payment", event, deliveryId),
    group: "payment",
    topic: event,
    owner: "order",
    deliveryId,
    body,
    event,
    reason: "invalid envelope",
    attempts: [],
    deadLetteredAt,
    status: "dead",
    retries: 0,
  };
}

export interface DlqTestGateway {
  /** This test's gateway. */
  readonly gw: TestGateway;
  /** The bodies redelivered to the `payment` group in this test, in order. */
  readonly received: string[];
  /** Adds the records to the gateway's dead-letter store, in order. */
  seed(records: readonly DeadLetterRecord[]): Promise<void>;
  /** A call to the gateway; the answer's status and JSON body. */
  call(
    method: string,
    url: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
}

/**
 * Registers, in the calling test file, a gateway started before each test (with `seeded` in its
 * dead-letter store, then a `payment` consumer of order.placed and order.cancelled) and stopped after.
 */
export function useDlqGateway(seeded: readonly DeadLetterRecord[] = []): DlqTestGateway {
  let current: TestGateway | undefined;
  let subscription: TransportSubscription | undefined;
  const received: string[] = [];
  const scope: DlqTestGateway = {
    get gw() {
      if (!current) throw new Error("the gateway starts before each test");
      return current;
    },
    received,
    seed: async (records) => {
      for (const record of records) await scope.gw.platform.deadLetters.add(record);
    },
    call: async (method, url, body) => {
      const res = await fetch(`${scope.gw.url}${url}`, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
  };
  beforeEach(async () => {
    current = await startTestGateway();
    await scope.seed(seeded);
    received.length = 0;
    subscription = await current.platform.transport.subscribe(
      {
        group: "payment",
        consumer: "payment-test",
        topics: [
          { topic: "order.placed", owner: "order" },
          { topic: "order.cancelled", owner: "order" },
        ],
      },
      async (delivery) => {
        received.push(delivery.body);
        await delivery.ack();
      },
    );
  });
  afterEach(async () => {
    await subscription?.stop();
    await current?.stop();
    subscription = current = undefined;
  });
  return scope;
}
