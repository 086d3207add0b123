/** break20 F7: `subscriber.stop({ timeoutMs })` returns while a handler hangs (it waited for ever). */
import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";

it("subscriber.stop({ timeoutMs }) returns after that long with a handler that never settles", async () => {
  const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
  let started = false;
  const subscriber = new Subscriber({
    events: TestEvents,
    transport,
    group: "g",
    consumer: "c",
    verifier: null,
  }).on("item.added", () => {
    started = true;
    return new Promise<void>(() => {});
  });
  await subscriber.start();
  const publisher = new Publisher({
    events: TestEvents,
    transport,
    source: { service: "shop", instance: "s-1" },
    signer: null,
  });
  await publisher.publish("item.added", { sku: "a", quantity: 1 });
  await waitFor(() => started, 5_000, "the handler");
  const outcome = await Promise.race([
    subscriber.stop({ timeoutMs: 200 }).then(() => "stopped"),
    sleep(3_000).then(() => "still waiting"),
  ]);
  expect(outcome).toBe("stopped");
  expect(subscriber.running).toBe(false);
});

it("after such a stop, the memory transport's close() returns too, not waiting for the hung handler (newuser21 F7)", async () => {
  const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
  let started = false;
  const subscriber = new Subscriber({
    events: TestEvents,
    transport,
    group: "g",
    consumer: "c",
    verifier: null,
  }).on("item.added", () => {
    started = true;
    return new Promise<void>(() => {});
  });
  await subscriber.start();
  const publisher = new Publisher({
    events: TestEvents,
    transport,
    source: { service: "shop", instance: "s-1" },
    signer: null,
  });
  await publisher.publish("item.added", { sku: "a", quantity: 1 });
  await waitFor(() => started, 5_000, "the handler");
  await subscriber.stop({ timeoutMs: 100 });
  const outcome = await Promise.race([
    transport.close().then(() => "closed"),
    sleep(3_000).then(() => "still waiting"),
  ]);
  expect(outcome).toBe("closed");
});

it("a program whose only pending work is a hung handler gets stop's answer, closes and exits 0 (newuser21 F7)", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "src/lib/bus/hung-stop.fixture.ts"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  expect({ code, output }).toMatchObject({ code: 0, output: expect.stringMatching(/stopped\nclosed\n/) });
}, 60_000);
