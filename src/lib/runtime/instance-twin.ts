/**
 * A second process started under an instance id a live process already has (break29 F4): it took
 * over the first one's registry entry (the live one was no longer routed to, and the entry was
 * removed when the second stopped) and shared its consumer name in every consumer group (their
 * leases and pending entries are one consumer's to Redis). Refused at start, before it consumes.
 */
import type { ServiceRegistry } from "../discovery/types.js";

/** How long (ms) the process at a registered entry's address may take to say who it is. */
export const TWIN_PROBE_TIMEOUT_MS = 2_000;

export class DuplicateInstanceError extends Error {
  readonly code = "DUPLICATE_INSTANCE_ID";
  constructor(
    readonly instanceId: string,
    readonly url: string,
  ) {
    super(
      `instance id "${instanceId}" is in use by a live process at ${url} (it answers /health/live as that ` +
        "instance): two processes under one id share its registry entry and its consumer name in every " +
        "consumer group; give this one another INSTANCE_ID (or INSTANCE_SLOT), or stop the other",
    );
    this.name = "DuplicateInstanceError";
  }
}

/**
 * The URL of another live process registered as `instanceId` of `service`, if any: the registry's
 * entry names another address or port than `self`, and the process there answers `/health/live` as
 * that very instance (a dead predecessor's entry, or another program now on its port, is no twin).
 */
export async function liveTwinOf(
  registry: ServiceRegistry,
  service: string,
  instanceId: string,
  self: { address: string; port: number },
  probeTimeoutMs: number = TWIN_PROBE_TIMEOUT_MS,
): Promise<string | undefined> {
  const entry = await registry.get(service, instanceId);
  if (!entry || (entry.address === self.address && entry.port === self.port)) return undefined;
  const host = entry.address.includes(":") ? `[${entry.address}]` : entry.address;
  const url = `http://${host}:${entry.port}`;
  try {
    const res = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(probeTimeoutMs) });
    const body = (await res.json().catch(() => undefined)) as { instanceId?: unknown } | undefined;
    return res.ok && body?.instanceId === instanceId ? url : undefined;
  } catch {
    return undefined;
  }
}
