import { decodeEnvelope } from "../../lib/bus/envelope.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryInventoryStore } from "./store.js";
import { runInventoryStoreContract } from "./store-contract.js";

runInventoryStoreContract("memory", async () => {
  const published: OutgoingMessage[] = [];
  const store = new MemoryInventoryStore(async (messages) => {
    published.push(...messages);
  });
  return {
    store,
    peers: [store],
    emitted: async (topic) =>
      published.filter((m) => m.topic === topic).map((m) => decodeEnvelope(m.body).payload),
  };
});
