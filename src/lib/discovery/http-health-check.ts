/** The default health probe: `GET http://address:port/health`, healthy on any 2xx. */
import type { HealthCheck } from "./health-checker.js";

export function httpHealthCheck(timeoutMs: number): HealthCheck {
  return async (instance) => {
    const host = instance.address.includes(":") ? `[${instance.address}]` : instance.address;
    const response = await fetch(`http://${host}:${instance.port}/health`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Drain nothing we do not need; cancelling frees the connection at once.
    await response.body?.cancel();
    return response.ok ? { ok: true } : { ok: false, detail: `HTTP ${response.status}` };
  };
}
