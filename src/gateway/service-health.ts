/** `GET /services/:name/health`: ask every instance of a service for its health and sum it up. */
import { identityMismatch } from "../lib/discovery/http-health-check.js";
import type { ServiceInstance } from "../lib/discovery/types.js";
import type { UpstreamResponse } from "./proxy.js";

export type ServiceHealth = "healthy" | "degraded" | "unavailable";

export interface InstanceHealthReport {
  instanceId: string;
  address: string;
  port: number;
  version: string;
  status: "healthy" | "unhealthy";
  /** The instance's own answer status, when it answered. */
  httpStatus?: number;
  latencyMs: number;
  /** The instance's own health body (its checks), when it answered JSON. */
  health?: unknown;
  detail?: string;
}

export interface ServiceHealthReport {
  service: string;
  status: ServiceHealth;
  instances: InstanceHealthReport[];
}

/** All instances healthy → healthy; some → degraded; none (or no instance at all) → unavailable. */
export function aggregateHealth(statuses: readonly ("healthy" | "unhealthy")[]): ServiceHealth {
  const healthy = statuses.filter((s) => s === "healthy").length;
  if (healthy === 0) return "unavailable";
  return healthy === statuses.length ? "healthy" : "degraded";
}

export type HealthGet = (instance: ServiceInstance) => Promise<UpstreamResponse>;

export async function probeInstance(
  get: HealthGet,
  instance: ServiceInstance,
  now: () => number,
): Promise<InstanceHealthReport> {
  const { instanceId, address, port, version } = instance;
  const started = now();
  try {
    const response = await get(instance);
    const ok = response.status >= 200 && response.status < 300;
    // A 2xx counts only from the registered instance itself (same check as the background checker).
    const impostor = ok ? identityMismatch(instance, response.body.toString()) : undefined;
    const report: InstanceHealthReport = {
      instanceId,
      address,
      port,
      version,
      status: ok && impostor === undefined ? "healthy" : "unhealthy",
      httpStatus: response.status,
      latencyMs: now() - started,
    };
    if (impostor !== undefined) report.detail = impostor;
    const health = parseJson(response.body);
    if (health !== undefined) report.health = health;
    return report;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { instanceId, address, port, version, status: "unhealthy", latencyMs: now() - started, detail };
  }
}

export async function serviceHealth(
  service: string,
  instances: readonly ServiceInstance[],
  get: HealthGet,
  now: () => number,
): Promise<ServiceHealthReport> {
  const reports = await Promise.all(instances.map((instance) => probeInstance(get, instance, now)));
  return { service, status: aggregateHealth(reports.map((r) => r.status)), instances: reports };
}

function parseJson(body: Buffer): unknown {
  try {
    return body.length === 0 ? undefined : (JSON.parse(body.toString()) as unknown);
  } catch {
    return undefined;
  }
}
