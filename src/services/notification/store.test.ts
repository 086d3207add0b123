import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryNotificationStore } from "./store.js";
import { runNotificationStoreContract } from "./store-contract.js";

runNotificationStoreContract("memory", async () => {
  const published: OutgoingMessage[] = [];
  const store = new MemoryNotificationStore(async (messages) => {
    published.push(...messages);
  });
  return { store, emitted: async (topic) => published.filter((m) => m.topic === topic).map((m) => m.body) };
});
