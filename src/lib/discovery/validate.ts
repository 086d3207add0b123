/** Input checks shared by both registry adapters, so they reject the same things the same way. */
import { z } from "zod";
import { DiscoveryError } from "./errors.js";
import type { ServiceInstance } from "./types.js";

const isoTime = z.iso.datetime({ offset: true });
// A service name carries no ":" so `<service>:<id>` in a key can never be read two ways.
const serviceName = z.string().regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' or '-'");
const instanceId = z.string().min(1).max(200);

export const serviceInstanceSchema = z.object({
  service: serviceName,
  instanceId,
  address: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  version: z.string().min(1),
  startedAt: isoTime,
  lastHeartbeat: isoTime,
  status: z.enum(["healthy", "unhealthy"]),
  consecutiveFailures: z.number().int().min(0),
  metadata: z.record(z.string(), z.string()).optional(),
});

export function validInstance(instance: ServiceInstance): ServiceInstance {
  const parsed = serviceInstanceSchema.safeParse(instance);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"} ${i.message}`);
    throw new DiscoveryError("INVALID_INSTANCE", `Invalid service instance: ${issues.join("; ")}`);
  }
  return parsed.data;
}

export function validTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
    throw new DiscoveryError("INVALID_TTL", `TTL must be a positive integer of milliseconds, got ${ttlMs}`);
  }
  return ttlMs;
}
