/**
 * The default health probe: `GET http://address:port/health`. Healthy only on a 2xx whose JSON body
 * names the registered service and instance id: a process that took a dead instance's port (another
 * service, or the same service of another system) answers 2xx too, and must not receive its traffic.
 */
import type { HealthCheck } from "./health-checker.js";
import type { ServiceInstance } from "./types.js";

/** Largest /health body read (bytes); a health answer is a few hundred bytes. */
const MAX_HEALTH_BODY_BYTES = 64 * 1024;

export function httpHealthCheck(timeoutMs: number): HealthCheck {
  return async (instance) => {
    const host = instance.address.includes(":") ? `[${instance.address}]` : instance.address;
    const response = await fetch(`http://${host}:${instance.port}/health`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return { ok: false, detail: `HTTP ${response.status}` };
    }
    const text = await response.text();
    const mismatch = identityMismatch(instance, text.length > MAX_HEALTH_BODY_BYTES ? "" : text);
    return mismatch === undefined ? { ok: true } : { ok: false, impostor: true, detail: mismatch };
  };
}

/**
 * Why a /health body does not belong to `instance` (undefined when it does): it must be JSON with
 * `service` and `instanceId` equal to the registry entry's, as every service host and the gateway answer.
 */
export function identityMismatch(instance: ServiceInstance, body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return "health answer is not JSON naming its service and instanceId";
  }
  const named = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  if (named.service === instance.service && named.instanceId === instance.instanceId) return undefined;
  return `address answered as ${String(named.service)}/${String(named.instanceId)}, registered as ${instance.service}/${instance.instanceId}`;
}
