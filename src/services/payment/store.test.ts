import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryPaymentStore } from "./store.js";
import { runPaymentStoreContract } from "./store-contract.js";

runPaymentStoreContract("memory", async () => {
  const sent: OutgoingMessage[] = [];
  const store = new MemoryPaymentStore(async (messages) => {
    sent.push(...messages);
  });
  return { store, emitted: async (topic) => sent.filter((m) => m.topic === topic).map((m) => m.body) };
});
