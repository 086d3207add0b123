/**
 * No merge-conflict marker survives in a tracked file: one once compiled unnoticed inside a doc
 * comment (src/services/payment/provider.ts), with half of a paragraph on each side.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

it("leaves no merge-conflict marker in any tracked text file", () => {
  const root = new URL("../../", import.meta.url);
  const files = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" })
    .split("\0")
    .filter((f) => /\.(ts|mts|mjs|js|json|md|ya?ml|acl|sh)$/.test(f) || f.startsWith(".ci/"));
  const marked = files.filter((file) =>
    /^(?:[ *]*)(?:<{7}|>{7}) /m.test(readFileSync(new URL(file, root), "utf8")),
  );
  expect(files.length).toBeGreaterThan(100);
  expect(marked).toEqual([]);
});
