import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { createMemoryOrderStores } from "./store.js";
import { runOrderStoreContract } from "./store-contract.js";

runOrderStoreContract("memory", async (now) => {
  const published: OutgoingMessage[] = [];
  const stores = createMemoryOrderStores({
    publish: async (messages) => void published.push(...messages),
    now,
  });
  return {
    stores,
    emitted: async (topic) =>
      published
        .filter((m) => m.topic === topic)
        .map((m) => (JSON.parse(m.body) as { payload: unknown }).payload),
  };
});
