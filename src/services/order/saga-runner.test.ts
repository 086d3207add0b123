/**
 * The runner decides on the cached order without reading the stream first: the append's expected
 * version is the arbiter. A state another instance moved is refused with the events it missed and
 * decided again on them; a decision that appends nothing is made again on the stored state.
 */
import { describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { Transport } from "../../lib/bus/transport.js";
import { AppendDeadlineError } from "../../lib/eventstore/errors.js";
import { MemoryEventStore } from "../../lib/eventstore/memory-event-store.js";
import { ORDER_TAG, orderStreamId } from "./keys.js";
import { OrderRepository } from "./repository.js";
import { orderId, replies, T0 } from "./saga-fixtures.js";
import { SagaRunner } from "./saga-runner.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: {} as Transport,
  source: { service: "order", instance: "test" },
  signer: null,
});

/** Two order instances (runners with their own caches) over one store that counts stream reads. */
function twoInstances() {
  const store = new MemoryEventStore({ tag: ORDER_TAG, publish: async () => {} });
  const reads: string[] = [];
  const read = store.read.bind(store);
  store.read = (streamId, options) => {
    reads.push(streamId);
    return read(streamId, options);
  };
  let clock = T0;
  const now = () => (clock += 10);
  const instance = () => new SagaRunner({ repository: new OrderRepository(store), now });
  return { store, reads, a: instance(), b: instance() };
}

const placeOn = (runner: SagaRunner) =>
  runner.place(
    {
      orderId,
      userId: "u-1",
      items: [{ productId: "sku-1", quantity: 2 }],
      paymentToken: SEALED_TOKEN,
      correlationId: "corr-1",
    },
    publisher,
  );

describe("saga runner over a cached order", () => {
  it("places an order and runs its next steps without reading the stream", async () => {
    const { reads, a } = twoInstances();
    await placeOn(a);
    expect(await a.run(orderId, replies.valid, publisher)).toMatchObject({ kind: "applied" });
    expect(await a.run(orderId, replies.reserved, publisher)).toMatchObject({ kind: "applied" });
    expect(reads).toEqual([]);
  });

  // fixdl: a request's input (a cancel) carries the gateway's deadline to the append.
  it("applies nothing when the store's clock is past the input's deadline (applyBy)", async () => {
    const { store, a } = twoInstances();
    await placeOn(a);
    const stored = async () => (await store.read(orderStreamId(orderId))).length;
    const before = await stored();
    await expect(a.run(orderId, { type: "cancel" }, publisher, false, T0 - 1)).rejects.toBeInstanceOf(
      AppendDeadlineError,
    );
    expect(await stored()).toBe(before);
    // Not cancelled: the saga goes on.
    expect(await a.run(orderId, replies.valid, publisher)).toMatchObject({ kind: "applied" });
  });

  it("a step decided on a state another instance moved is refused, caught up and decided again", async () => {
    const { store, reads, a, b } = twoInstances();
    await placeOn(a);
    await b.run(orderId, replies.valid, publisher);
    reads.length = 0;
    // `a` still holds the order as placed; the refusal of its append brings it the validation, so
    // the cancel it decides again releases the reservation the validation asked for.
    const result = await a.run(orderId, { type: "cancel" }, publisher);
    expect(result).toMatchObject({ kind: "applied", state: { status: "cancelled" } });
    const commands = result.kind === "applied" ? result.decision.commands.map((c) => c.event) : [];
    expect(commands).toContain("order.compensation.inventory.release");
    expect(reads).toEqual([]);
    const stored = await store.read(`order-${orderId}`);
    expect(stored.map((e) => e.version)).toEqual(stored.map((_, i) => i + 1));
  });

  it("a reply the cached state would put off is decided on the stored state", async () => {
    const { a, b } = twoInstances();
    await placeOn(a);
    await b.run(orderId, replies.valid, publisher);
    await b.run(orderId, replies.reserved, publisher);
    // To `a` the order still awaits validation: a payment reply would be too early for it.
    const result = await a.run(orderId, replies.paid, publisher);
    expect(result).toMatchObject({ kind: "applied", state: { status: "paid", awaiting: "shipping" } });
    // And a duplicate is a duplicate on the stored state too.
    expect(await b.run(orderId, replies.paid, publisher)).toMatchObject({ kind: "unchanged" });
  });
});
