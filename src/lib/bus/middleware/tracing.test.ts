import { describe, expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { tracingEnabled } from "../../observability/spans.js";
import { MemoryTransport } from "../transports/memory.js";
import { instrumentTransport } from "./tracing.js";

describe("instrumentTransport", () => {
  it("with tracing off installs nothing: the transport itself comes back, so no delivery is wrapped", async () => {
    expect(tracingEnabled()).toBe(false);
    const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
    try {
      expect(instrumentTransport(transport, { group: "g" })).toBe(transport);
    } finally {
      await transport.close();
    }
  });
});
