/**
 * The in-memory transport lets at most `maxHungRunsLetGo` hung runs of a consumer go (break24 F2,
 * as MAX_HUNG_RUNS_LET_GO on Streams): past it a hung run keeps its slot and its message, which
 * only another consumer may take. The rest of the hung-run behaviour is in the transport contract.
 */
import { afterEach, expect, it } from "vitest";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { MemoryTransport } from "./memory.js";
import { hangUntilReleased, messageOf, recorder, uniqueName, uniqueTopic } from "./transport-contract.js";

const hang = hangUntilReleased();
let transport: MemoryTransport | undefined;
afterEach(async () => {
  hang.release();
  await transport?.close();
});

it("keeps a hung run's slot and message past maxHungRunsLetGo: only another consumer takes it", async () => {
  transport = new MemoryTransport({
    deadLetters: new MemoryDeadLetterStore(),
    claimIdleMs: 250,
    claimIntervalMs: 50,
    maxLeaseMs: 500,
    maxHungRunsLetGo: 1,
  });
  const ref = uniqueTopic();
  const group = uniqueName("g");
  const [first, second] = [messageOf(ref, 1), messageOf(ref, 2)];
  const only = recorder(() => hang.promise);
  await transport.subscribe({ group, consumer: "only", topics: [ref], concurrency: 2 }, only.handler);
  await transport.publish([first, second]);
  await waitFor(() => only.deliveries.length >= 2, 8_000, "both hung deliveries");

  // One hung run is let go: its message runs again in the slot it freed. The other is kept: its
  // message waited meanwhile, and was not run again here although the slot was free for a while.
  await waitFor(() => only.deliveries.length >= 3, 8_000, "the message let go run again");
  expect(only.bodies()).toEqual([first.body, second.body, first.body]);

  const other = recorder(() => hang.promise);
  await transport.subscribe({ group, consumer: "other", topics: [ref] }, other.handler);
  await waitFor(() => other.bodies().includes(second.body), 8_000, "the kept run's message elsewhere");
  expect(other.deliveries.find((d) => d.body === second.body)).toMatchObject({
    attempt: 1,
    // Its run given up as hung: a silent run, but no crash (break27 F1).
    silentDeliveries: 0,
    silentStartedRuns: 1,
    hungRuns: 1,
  });
  expect(only.bodies().filter((body) => body === second.body)).toHaveLength(1);
});
