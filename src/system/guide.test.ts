/**
 * The README's "Add an event and a service" guide names every place a new service must be added to
 * run as its own process (new-user finding 1: followed literally, the guide gave a service that
 * dead-lettered every event it consumed, as it never mentioned SERVICE_COMMANDS and the generated
 * signing-key needs). Each entry is a file or command that the system's tests or the launcher
 * check for every service in SERVICES; the guide must send the reader to all of them.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const guide = readme.slice(
  readme.indexOf("## Add an event and a service"),
  readme.indexOf("## Use the bus library on its own"),
);

it("the guide names every file and command a new service needs", () => {
  expect(guide.length).toBeGreaterThan(1_000);
  for (const needed of [
    "src/contracts/catalog.ts", // AllEvents
    "src/contracts/fixtures.ts",
    "npx tsx scripts/event-catalog.ts --write",
    "src/system/catalog.ts", // SERVICES
    "src/gateway/routes/",
    "SERVICE_COMMANDS",
    "src/system/redis-acl.ts",
    "npx tsx scripts/redis-acl.ts --write",
    "src/system/signing-key-needs.ts",
    "src/system/key-families.ts",
    "npx tsx scripts/storage-table.ts --write",
    "docker-compose.yml",
    ".env.example",
    "ops/prometheus/prometheus.yml",
    "src/system/deployment.test.ts",
  ])
    expect(guide, needed).toContain(needed);
});
