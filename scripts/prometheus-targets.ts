/**
 * Writes a Prometheus `file_sd_configs` file of every running instance, from the gateway's
 * `GET /services` (src/system/prometheus-targets.ts). With `--every <s>` it rewrites it that often
 * until stopped, so instances added or restarted on other ports are scraped too.
 *
 *   GATEWAY_URL=http://localhost:8080 GATEWAY_API_KEY=<admin key> \
 *     npx tsx scripts/prometheus-targets.ts /tmp/ordersaga-targets.json --every 30
 *
 * GATEWAY_URL defaults to http://localhost:8080; GATEWAY_API_KEY (an admin key) is needed when the
 * gateway has API keys. A failed read is one line on stderr: exit 1, or with --every the file is
 * left as it was and the next round tries again.
 */
import { parseArgs } from "node:util";
import { type ServicesListing, targetGroups, writeTargetFile } from "../src/system/prometheus-targets.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { every: { type: "string" } },
});
const file = positionals[0];
const everySeconds = values.every === undefined ? undefined : Number(values.every);
if (!file || positionals.length > 1 || (everySeconds !== undefined && !(everySeconds >= 1))) {
  console.error("usage: prometheus-targets <output file> [--every <seconds, at least 1>]");
  process.exit(2);
}
const gateway = process.env.GATEWAY_URL || "http://localhost:8080";
const key = process.env.GATEWAY_API_KEY;

async function once(): Promise<boolean> {
  try {
    const response = await fetch(`${gateway}/services`, { headers: key ? { "x-api-key": key } : {} });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    const groups = targetGroups((await response.json()) as ServicesListing);
    writeTargetFile(file!, groups);
    console.log(`wrote ${file}: ${groups[0]?.targets.length ?? 0} targets`);
    return true;
  } catch (error) {
    console.error(`prometheus-targets: GET ${gateway}/services: ${(error as Error).message}`);
    return false;
  }
}

if (everySeconds === undefined) process.exitCode = (await once()) ? 0 : 1;
else
  for (;;) {
    await once();
    await new Promise((resolve) => setTimeout(resolve, everySeconds * 1000));
  }
