import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderEventCatalog, replaceEventCatalog } from "./catalog-markdown.js";
import { AllEvents } from "./index.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("the README's event catalog", () => {
  it("is exactly what `npx tsx scripts/event-catalog.ts --write` generates from the contracts", () => {
    expect(replaceEventCatalog(readme, renderEventCatalog(AllEvents))).toBe(readme);
  });

  // Newuser8 M3: they were listed under "Published by `order`", though nothing publishes them.
  it("lists the order's history records in their own section, not among the events on the bus", () => {
    const catalog = renderEventCatalog(AllEvents);
    const history = catalog.indexOf("#### Order history records (GET /orders/:id/events; not on the bus)");
    expect(history).toBeGreaterThan(0);
    const published = catalog.slice(0, history);
    for (const name of ["order.event.created", "order.event.status.changed"]) {
      expect(published).not.toContain(`\`${name}\``);
      expect(catalog.slice(history)).toContain(`| \`${name}\` |`);
    }
    expect(published).toContain("| `order.placed` |");
  });
});
