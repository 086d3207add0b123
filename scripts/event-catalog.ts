/**
 * The event catalog as Markdown, from the contracts.
 *   npx tsx scripts/event-catalog.ts           prints it
 *   npx tsx scripts/event-catalog.ts --write   rewrites the README's section (between its markers)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { AllEvents } from "../src/contracts/index.js";
import { renderEventCatalog, replaceEventCatalog } from "../src/contracts/catalog-markdown.js";

const catalog = renderEventCatalog(AllEvents);
if (process.argv.includes("--write")) {
  const path = new URL("../README.md", import.meta.url);
  writeFileSync(path, replaceEventCatalog(readFileSync(path, "utf8"), catalog));
  console.log("README.md: event catalog rewritten");
} else {
  console.log(catalog);
}
