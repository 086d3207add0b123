/**
 * Prometheus file-based discovery (`file_sd_configs`) from the gateway's `GET /services`: every
 * registered instance's metrics address, extra instances on free ports included (newuser13 F6: a
 * scrape list of fixed ports missed `--instances order=2`'s second order, and its sagas' metrics).
 * `scripts/prometheus-targets.ts` writes the file; README "Metrics and Prometheus" shows the job.
 */
import { renameSync, writeFileSync } from "node:fs";
import { GATEWAY } from "./catalog.js";

/** The part of `GET /services` read here. */
export interface ServicesListing {
  services: { name: string; instances: { metricsUrl: string }[] }[];
}

/** One file_sd target group: `host:port` targets (the path is Prometheus's default, `/metrics`). */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * One group of every service instance's `host:port`, sorted, without duplicates. The gateway (it
 * registers too) is left out: it has its own job, as its `/metrics` needs a key when the gateway has
 * API keys and the services' ports do not, and its port is fixed. No `service` label: every
 * series carries its own, and a target label of that name would rename it `exported_service`.
 * Throws when a metricsUrl does not end in `/metrics` (a listing this code does not know).
 */
export function targetGroups(listing: ServicesListing): TargetGroup[] {
  const targets = new Set<string>();
  for (const service of listing.services.filter((s) => s.name !== GATEWAY.name))
    for (const { metricsUrl } of service.instances) {
      const url = new URL(metricsUrl);
      if (url.pathname !== "/metrics") throw new Error(`unexpected metricsUrl ${metricsUrl}`);
      targets.add(url.host);
    }
  return targets.size === 0 ? [] : [{ targets: [...targets].sort(), labels: {} }];
}

/** Writes the groups to `file` whole (a temporary file renamed over it): Prometheus never reads half. */
export function writeTargetFile(file: string, groups: readonly TargetGroup[]): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(groups, null, 2)}\n`);
  renameSync(temporary, file);
}
