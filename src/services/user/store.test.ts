import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryUserStore } from "./store.js";
import { runUserStoreContract } from "./store-contract.js";

runUserStoreContract("memory", async () => {
  const published: OutgoingMessage[] = [];
  const store = new MemoryUserStore(async (messages) => {
    published.push(...messages);
  });
  return { store, emitted: async (topic) => published.filter((m) => m.topic === topic).map((m) => m.body) };
});
