/** Prints the key-family table of docs/storage.md: `npx tsx scripts/storage-table.ts`. */
import { renderKeyFamilyTable } from "../src/system/key-families.js";

console.log(renderKeyFamilyTable());
