/**
 * The service registry port and the shapes shared by the agent, the health checker and the client.
 * The registry is the source of truth for "which instances are alive": entries expire on their own
 * unless heartbeats refresh them, so a crashed instance disappears without anyone deregistering it.
 */

export type InstanceStatus = "healthy" | "unhealthy";

export interface ServiceInstance {
  service: string;
  instanceId: string;
  address: string;
  port: number;
  version: string;
  /** ISO time the instance started. */
  startedAt: string;
  /** ISO time of the last heartbeat the registry accepted (informational: the TTL decides liveness). */
  lastHeartbeat: string;
  status: InstanceStatus;
  consecutiveFailures: number;
  metadata?: Record<string, string>;
}

/** Storage port of service discovery; the memory and Redis adapters pass one shared suite. */
export interface ServiceRegistry {
  /** Adds or replaces the entry; it lives `ttlMs` unless heartbeats refresh it. */
  register(instance: ServiceInstance, ttlMs: number): Promise<void>;
  /**
   * Refreshes TTL and lastHeartbeat (to `at`, an ISO date on the caller's shared clock; default the
   * registry's own clock). False when the entry had expired (or was removed): re-register.
   */
  heartbeat(service: string, instanceId: string, ttlMs: number, at?: string): Promise<boolean>;
  /** Removes the entry; true when it was there (so only one of several callers announces it). */
  deregister(service: string, instanceId: string): Promise<boolean>;
  /** Live instances of one service, or of all services; expired entries are never listed. */
  list(service?: string): Promise<ServiceInstance[]>;
  /** Names of services with at least one live instance, sorted. */
  services(): Promise<string[]>;
  get(service: string, instanceId: string): Promise<ServiceInstance | undefined>;
  /** Records a health verdict without touching the TTL; false (and no write) when the entry is gone. */
  setHealth(
    service: string,
    instanceId: string,
    status: InstanceStatus,
    consecutiveFailures: number,
  ): Promise<boolean>;
}

/** Untyped on purpose: the wiring layer connects it to the bus with the discovery contracts. */
export type DiscoveryPublish = (event: string, payload: Record<string, unknown>) => Promise<void>;

/** The subset of a pino logger used here. */
export interface DiscoveryLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export const silentLogger: DiscoveryLogger = {
  info: () => {},
  warn: () => {},
};
