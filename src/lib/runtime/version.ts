/**
 * The version every process reports (`/health`, the registry, OpenAPI/AsyncAPI): package.json's,
 * read once at start, so a release changes it in one place. The same relative path works from
 * `src/lib/runtime` (tsx) and `dist/lib/runtime` (the build).
 */
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
  version?: unknown;
};

export const PACKAGE_VERSION: string = typeof pkg.version === "string" ? pkg.version : "0.0.0";
