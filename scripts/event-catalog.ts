/** Prints the event catalog as Markdown (pasted into the README): `npx tsx scripts/event-catalog.ts`. */
import { AllEvents } from "../src/contracts/index.js";
import { describeRegistry } from "../src/lib/bus/events.js";

const rows = describeRegistry(AllEvents);
const owners = [...new Set(rows.map((r) => r.owner))];
for (const owner of owners) {
  console.log(`\n#### Published by \`${owner}\`\n\n| Event | Description |\n|---|---|`);
  for (const r of rows.filter((x) => x.owner === owner)) console.log(`| \`${r.name}\` | ${r.description} |`);
}
