/**
 * The operator hints of docs/storage.md ("What the operator does") tell the same story as the key
 * scan (key-scan.ts). A group that does not read is the age of the first entry after its
 * `last-delivered-id`, not `XINFO GROUPS`'s `lag`: Redis counts `lag` from `entries-read`, which is
 * not exact after trims or an AOF restart (break-11 F6: a caught-up group read `lag` 295).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const doc = readFileSync(new URL("../../docs/storage.md", import.meta.url), "utf8");
const scan = readFileSync(new URL("./key-scan.ts", import.meta.url), "utf8");

/** The bullet of "What the operator does" that starts with `title`. */
const hint = (title: string): string => {
  const start = doc.indexOf(`- **${title}**`);
  expect(start, `docs/storage.md has the hint "${title}"`).toBeGreaterThanOrEqual(0);
  const end = doc.indexOf("\n- **", start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
};

describe("docs/storage.md operator hints", () => {
  it("finds a group that does not read by its last-delivered-id and the next entry's age, as the scan does", () => {
    const text = hint("A group that does not read");
    expect(scan).toContain('group["last-delivered-id"]');
    expect(text).toContain("last-delivered-id");
    expect(text).toMatch(/XRANGE <stream> \(<last-delivered-id> \+/);
    // `lag` may be named only to warn against it, never as the sign to watch.
    expect(text).not.toMatch(/`lag` grows/);
    expect(text).toMatch(/Do not go by `lag`/);
  });
});
