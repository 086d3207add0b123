/**
 * `npm run start:services`: the launcher (src/system/start-services.ts), loaded the way its options
 * ask. With `--compiled` it runs the compiled `dist/system/start-services.js` with plain node, as its
 * children do: loaded through tsx it started tsx's esbuild helper process, which held a copy of the
 * launcher's whole environment (every Redis password and key the launcher hands out) for the whole
 * run (break33 F3). Without the build it falls back to the sources, whose launcher then refuses
 * `--compiled` with the reason (NO_BUILD: run npm run build). Without `--compiled`: the sources
 * through tsx (`import "tsx"` is what `node --import tsx` loads).
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { URL } from "node:url";

const compiled = new URL("../dist/system/start-services.js", import.meta.url);
if (process.argv.slice(2).includes("--compiled") && existsSync(compiled)) {
  await import(compiled.href);
} else {
  await import("tsx");
  await import(new URL("../src/system/start-services.ts", import.meta.url).href);
}
