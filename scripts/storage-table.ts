/**
 * Prints the key-family table and the stream budget of docs/storage.md
 * (`npx tsx scripts/storage-table.ts`), or with `--write` puts each in place between the doc's
 * key-families and stream-budget markers. The budget is computed from the code's constants
 * (src/system/stream-budget.ts imports them), never restated here.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { renderKeyFamilyTable } from "../src/system/key-families.js";
import { renderStreamBudget } from "../src/system/stream-budget.js";

const sections = { "key-families": renderKeyFamilyTable(), "stream-budget": renderStreamBudget() };
if (process.argv.includes("--write")) {
  const file = new URL("../docs/storage.md", import.meta.url);
  let doc = readFileSync(file, "utf8");
  for (const [name, text] of Object.entries(sections)) {
    const markers = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(\\n<!-- ${name}:end -->)`);
    if (!markers.test(doc)) throw new Error(`docs/storage.md has no ${name} markers`);
    doc = doc.replace(markers, (_, start: string, end: string) => `${start}${text}${end}`);
  }
  writeFileSync(file, doc);
} else {
  console.log(Object.values(sections).join("\n\n"));
}
