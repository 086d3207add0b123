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

/** Where a service's history records can be read (the heading of their table says it). */
const HISTORY_ROUTES: Readonly<Record<string, string>> = { order: "GET /orders/:id/events" };

type Row = ReturnType<typeof describeRegistry>[number];
const table = (rows: readonly Row[]) =>
  `| Event | Description |\n|---|---|\n` + rows.map((r) => `| \`${r.name}\` | ${r.description} |`).join("\n");

/**
 * One table per publishing service, in the order the registry lists them; then, per service, its
 * history records (its event store's, never on the bus: newuser8 M3) in a table of their own.
 */
export function renderEventCatalog(registry: EventRegistry): string {
  const rows = describeRegistry(registry);
  const onBus = rows.filter((r) => !r.historyRecord);
  const records = rows.filter((r) => r.historyRecord);
  const sections = [...new Set(onBus.map((r) => r.owner))].map(
    (owner) => `#### Published by \`${owner}\`\n\n${table(onBus.filter((r) => r.owner === owner))}`,
  );
  for (const owner of new Set(records.map((r) => r.owner))) {
    const title = owner.charAt(0).toUpperCase() + owner.slice(1);
    const where = HISTORY_ROUTES[owner] ?? `the ${owner} service's history`;
    sections.push(
      `#### ${title} history records (${where}; not on the bus)\n\n` +
        table(records.filter((r) => r.owner === owner)),
    );
  }
  return sections.join("\n\n");
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
