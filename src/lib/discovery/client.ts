/**
 * The gateway's view of the registry: healthy instances per service, cached briefly so a request
 * does not cost a Redis round trip, and round-robin selection that skips instances whose circuit
 * breaker is open.
 */
import { DiscoveryError } from "./errors.js";
import type { DiscoveryLogger, ServiceInstance, ServiceRegistry } from "./types.js";
import { silentLogger } from "./types.js";

export interface InstanceBreaker {
  canExecute(): boolean;
}

export interface DiscoveryClientOptions {
  registry: ServiceRegistry;
  cacheTtlMs?: number;
  breakerFor?: (instance: ServiceInstance) => InstanceBreaker;
  logger?: DiscoveryLogger;
  now?: () => number;
}

interface CacheEntry {
  at: number;
  instances: ServiceInstance[];
}

export class DiscoveryClient {
  private readonly registry: ServiceRegistry;
  private readonly cacheTtlMs: number;
  private readonly breakerFor: ((instance: ServiceInstance) => InstanceBreaker) | undefined;
  private readonly logger: DiscoveryLogger;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly loading = new Map<string, Promise<ServiceInstance[]>>();
  private readonly cursors = new Map<string, number>();
  /** Services whose last registry read failed: their list is the last known one, unverified. */
  private readonly stale = new Set<string>();

  constructor(options: DiscoveryClientOptions) {
    this.registry = options.registry;
    this.cacheTtlMs = options.cacheTtlMs ?? 1_000;
    this.breakerFor = options.breakerFor;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /**
   * Live instances not marked unhealthy, ordered by id. When the registry cannot be read, the last
   * known list is served (stale beats nothing for routing); with none, REGISTRY_UNAVAILABLE.
   */
  async healthyInstances(service: string): Promise<ServiceInstance[]> {
    const cached = this.cache.get(service);
    if (cached && this.now() - cached.at < this.cacheTtlMs) return cached.instances;
    let pending = this.loading.get(service);
    if (!pending) {
      // One registry read per service at a time, however many requests arrive meanwhile.
      pending = this.load(service).finally(() => this.loading.delete(service));
      this.loading.set(service, pending);
    }
    return pending;
  }

  /** The next healthy instance in turn whose breaker lets a call through; undefined when none. */
  async pick(service: string): Promise<ServiceInstance | undefined> {
    const instances = await this.healthyInstances(service);
    const start = this.cursors.get(service) ?? 0;
    for (let step = 0; step < instances.length; step++) {
      const index = (start + step) % instances.length;
      const candidate = instances[index];
      // Asked one at a time: a half-open breaker's canExecute may admit a single trial call.
      if (candidate && (!this.breakerFor || this.breakerFor(candidate).canExecute())) {
        this.cursors.set(service, index + 1);
        return candidate;
      }
    }
    return undefined;
  }

  /**
   * True while the registry cannot be read for `service` and its last known list is served: the
   * instances' leases are not verified (they may have died since).
   */
  unverified(service: string): boolean {
    return this.stale.has(service);
  }

  /** Drops the cached list of one service, or of all. */
  invalidate(service?: string): void {
    if (service === undefined) this.cache.clear();
    else this.cache.delete(service);
  }

  private async load(service: string): Promise<ServiceInstance[]> {
    try {
      const live = await this.registry.list(service);
      const instances = live
        .filter((i) => i.status !== "unhealthy")
        .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
      this.cache.set(service, { at: this.now(), instances });
      this.stale.delete(service);
      return instances;
    } catch (error) {
      const stale = this.cache.get(service);
      if (stale) {
        this.stale.add(service);
        this.logger.warn({ err: error, service }, "registry unreadable; routing on the last known instances");
        return stale.instances;
      }
      throw new DiscoveryError("REGISTRY_UNAVAILABLE", `Cannot read instances of "${service}"`, {
        retryable: true,
        cause: error,
      });
    }
  }
}
