/**
 * Prints the key-family table of docs/storage.md (`npx tsx scripts/storage-table.ts`), or with
 * `--write` puts it in place between the doc's key-families markers.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { renderKeyFamilyTable } from "../src/system/key-families.js";

const table = renderKeyFamilyTable();
if (process.argv.includes("--write")) {
  const file = new URL("../docs/storage.md", import.meta.url);
  const doc = readFileSync(file, "utf8");
  const updated = doc.replace(
    /(<!-- key-families:start -->\n)[\s\S]*?(\n<!-- key-families:end -->)/,
    (_, start: string, end: string) => `${start}${table}${end}`,
  );
  if (updated === doc && !doc.includes(table)) throw new Error("docs/storage.md has no key-families markers");
  writeFileSync(file, updated);
} else {
  console.log(table);
}
