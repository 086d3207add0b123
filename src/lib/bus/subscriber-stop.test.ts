/** break20 F7: `subscriber.stop({ timeoutMs })` returns while a handler hangs (it waited for ever). */
import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { sleep } from "../../test-support/wait.js";
import { startHungHandler } from "./test-bus.js";
import { MemoryTransport } from "./transports/memory.js";

it("subscriber.stop({ timeoutMs }) returns after that long with a handler that never settles", async () => {
  const subscriber = await startHungHandler(
    new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  );
  const outcome = await Promise.race([
    subscriber.stop({ timeoutMs: 200 }).then(() => "stopped"),
    sleep(3_000).then(() => "still waiting"),
  ]);
  expect(outcome).toBe("stopped");
  expect(subscriber.running).toBe(false);
});

it("after such a stop, the memory transport's close() returns too, not waiting for the hung handler (newuser21 F7)", async () => {
  const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
  const subscriber = await startHungHandler(transport);
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
