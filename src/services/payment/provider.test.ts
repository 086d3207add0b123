import { MemoryProviderLedger } from "./provider.js";
import { runProviderContract } from "./provider-contract.js";

runProviderContract("memory", () => new MemoryProviderLedger());
