import { MemoryEventStore } from "./memory-event-store.js";
import { runProjectionContract } from "./projection-contract.js";
import { MemoryReadModelStore } from "./read-model-store.js";

runProjectionContract("memory", async () => {
  const models = new Map<string, unknown>();
  return {
    events: new MemoryEventStore({ tag: "toy" }),
    // Memory has no connection to share: "a new instance over the same data" is the same object.
    readModel: <V>(name: string) => {
      const model = models.get(name) ?? new MemoryReadModelStore<V>();
      models.set(name, model);
      return model as MemoryReadModelStore<V>;
    },
  };
});
