import { describe } from "vitest";
import { createMemoryPlatform } from "../lib/runtime/platform.js";
import { runSagaSuite } from "./saga-contract.js";

describe("order saga end to end, embedded in memory", () => {
  runSagaSuite(async () => createMemoryPlatform());
});
