/**
 * The README's event catalog, generated from the contracts so it cannot drift:
 * `npx tsx scripts/event-catalog.ts --write` rewrites the section between the markers below, and a
 * test fails when the README's section differs from what the contracts say.
 */
import type { EventRegistry } from "../lib/bus/events.js";
import { describeRegistry } from "../lib/bus/events.js";

export const CATALOG_START =
  "<!-- event-catalog:start (generated: npx tsx scripts/event-catalog.ts --write) -->";
export const CATALOG_END = "<!-- event-catalog:end -->";

/** One table per publishing service, in the order the registry lists them. */
export function renderEventCatalog(registry: EventRegistry): string {
  const rows = describeRegistry(registry);
  const owners = [...new Set(rows.map((r) => r.owner))];
  return owners
    .map(
      (owner) =>
        `#### Published by \`${owner}\`\n\n| Event | Description |\n|---|---|\n` +
        rows
          .filter((r) => r.owner === owner)
          .map((r) => `| \`${r.name}\` | ${r.description} |`)
          .join("\n"),
    )
    .join("\n\n");
}

/** The README with its catalog section replaced; throws when the markers are missing. */
export function replaceEventCatalog(readme: string, catalog: string): string {
  const start = readme.indexOf(CATALOG_START);
  const end = readme.indexOf(CATALOG_END);
  if (start < 0 || end < start) {
    throw new Error(`README.md has no event catalog markers (${CATALOG_START} ... ${CATALOG_END})`);
  }
  return `${readme.slice(0, start + CATALOG_START.length)}\n\n${catalog}\n\n${readme.slice(end)}`;
}
