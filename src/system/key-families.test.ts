import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { familyOf, KEY_FAMILIES, renderKeyFamilyTable } from "./key-families.js";

describe("key families", () => {
  it("match each example key, built by the owner's key function, with exactly one family", () => {
    for (const family of KEY_FAMILIES) {
      const matching = KEY_FAMILIES.filter((f) => f.match.test(family.example));
      expect(
        matching.map((f) => f.pattern),
        family.example,
      ).toEqual([family.pattern]);
    }
  });

  it("give every transient family a bound that can be checked", () => {
    for (const family of KEY_FAMILIES.filter((f) => f.role === "transient")) {
      expect(family.check.kind, family.pattern).not.toBe("kept");
    }
  });

  it("leave a key of no documented family unmatched", () => {
    expect(familyOf("{order}:something-new:o1")).toBeUndefined();
    expect(familyOf("stray")).toBeUndefined();
  });

  // break42 F2: the per-order bounds are one-line orders; a delivered 100-line order with 100-char
  // product ids measured 35.6 KB of history, 14.7 KB of view and 14.6 KB of shipment. The table says
  // so next to the bound (the soak gate itself stays the one-line figure).
  it("state the worst accepted order next to the per-order bounds that grow with its lines", () => {
    const table = renderKeyFamilyTable();
    for (const [pattern, measured] of [
      ["{order}:es:s:order-<orderId>", "35,632 B"],
      ["{order}:rm:<projection>", "14,684 B"],
      ["{shipping}:shipment:<orderId>", "14,608 B"],
    ] as const) {
      const row = table
        .split("\n")
        .find((line) => line.startsWith(`| \`${pattern.replaceAll("|", "\\|")}\``));
      expect(row, pattern).toMatch(/one-line order/);
      expect(row, pattern).toContain(
        `${measured} for a delivered 100-line order (MAX_ORDER_LINES) with 100-character ids`,
      );
    }
  });

  it("are the table in docs/storage.md (npx tsx scripts/storage-table.ts prints it)", () => {
    const doc = readFileSync(new URL("../../docs/storage.md", import.meta.url), "utf8");
    expect(doc).toContain(renderKeyFamilyTable());
  });
});
