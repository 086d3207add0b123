/**
 * A program as the README's shutdown order has it, over the in-memory transport, whose one handler
 * never settles: `subscriber.stop({ timeoutMs })`, then `transport.close()`. Prints each step; run
 * by subscriber-stop.test.ts (newuser21 F7: the process exited with code 13 before stop answered).
 */
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { startHungHandler } from "./test-bus.js";
import { MemoryTransport } from "./transports/memory.js";

const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
const subscriber = await startHungHandler(transport);
await subscriber.stop({ timeoutMs: 300 });
console.log("stopped");
await transport.close();
console.log("closed");
