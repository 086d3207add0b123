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

  it("are the table in docs/storage.md (npx tsx scripts/storage-table.ts prints it)", () => {
    const doc = readFileSync(new URL("../../docs/storage.md", import.meta.url), "utf8");
    expect(doc).toContain(renderKeyFamilyTable());
  });
});
