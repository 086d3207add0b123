import { MemoryServiceRegistry } from "./memory-registry.js";
import { runServiceRegistryContract } from "./registry-contract.js";

runServiceRegistryContract("memory", () => ({
  create: async (now) => new MemoryServiceRegistry({ now }),
  ttlMs: 90_000,
  wait: async () => {},
}));
