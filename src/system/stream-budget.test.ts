import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_MUST_COMPLETE_WINDOW_MS, DEFAULT_RETENTION } from "../lib/runtime/retention.js";
import { renderStreamBudget } from "./stream-budget.js";

describe("the stream budget of docs/storage.md", () => {
  it("is the one computed from the code's constants (npx tsx scripts/storage-table.ts --write)", () => {
    const doc = readFileSync(new URL("../../docs/storage.md", import.meta.url), "utf8");
    expect(doc).toContain(renderStreamBudget());
  });

  it("states the must-complete window's pin as a multiple of the healthy trim", () => {
    const ratio = DEFAULT_MUST_COMPLETE_WINDOW_MS / DEFAULT_RETENTION.streamTrimIntervalMs;
    expect(renderStreamBudget()).toContain(`(${ratio}× the healthy figure)`);
  });
});
