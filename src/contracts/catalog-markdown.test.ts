import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderEventCatalog, replaceEventCatalog } from "./catalog-markdown.js";
import { AllEvents } from "./index.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("the README's event catalog", () => {
  it("is exactly what `npx tsx scripts/event-catalog.ts --write` generates from the contracts", () => {
    expect(replaceEventCatalog(readme, renderEventCatalog(AllEvents))).toBe(readme);
  });
});
