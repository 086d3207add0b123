import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryShippingStore } from "./store.js";
import { runShippingStoreContract } from "./store-contract.js";

runShippingStoreContract("memory", async () => {
  const sent: OutgoingMessage[] = [];
  const store = new MemoryShippingStore(async (messages) => {
    sent.push(...messages);
  });
  return { store, emitted: async (topic) => sent.filter((m) => m.topic === topic).map((m) => m.body) };
});
