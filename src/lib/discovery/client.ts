/**
 * The gateway's view of the registry: live instances per service (healthy, and marked unhealthy for
 * a fallback), cached briefly so a request does not cost a Redis round trip, and round-robin
 * selection of healthy ones that skips instances whose circuit breaker is open.
 */
import { monotonicNow } from "../resilience/monotonic.js";
import { DiscoveryError } from "./errors.js";
import type { DiscoveryLogger, ServiceInstance, ServiceRegistry } from "./types.js";
import { silentLogger } from "./types.js";

export interface InstanceBreaker {
  canExecute(): boolean;
}

export interface DiscoveryClientOptions {
  registry: ServiceRegistry;
  /** How long a list read from the registry is reused before it is read again (ms, default 1 000). */
  cacheTtlMs?: number;
  /**
   * Stale-if-error bound (ms, default 60 000): while the registry cannot be read, the last list read
   * successfully is served for up to this long after that read (then REGISTRY_UNAVAILABLE).
   */
  staleIfErrorMs?: number;
  breakerFor?: (instance: ServiceInstance) => InstanceBreaker;
  logger?: DiscoveryLogger;
  /**
   * Ms on a monotonic source timing the cache and stale-if-error (default `monotonicNow`). Never a
   * wall clock: a step back of it kept a list cached for the length of the step (break22 F1).
   */
  monotonicNow?: () => number;
}

/** One service's instances as last read, each list ordered by instance id. */
interface Listing {
  /** Every instance whose lease is current, healthy or marked unhealthy. */
  live: ServiceInstance[];
  /** Those of `live` not marked unhealthy. */
  healthy: ServiceInstance[];
}

interface CacheEntry {
  /** When the registry was last asked (successfully or not): reused until `at + cacheTtlMs`. */
  at: number;
  /** When `listing` was read successfully. */
  verifiedAt: number;
  listing: Listing;
}

export class DiscoveryClient {
  private readonly registry: ServiceRegistry;
  private readonly cacheTtlMs: number;
  private readonly staleIfErrorMs: number;
  private readonly breakerFor: ((instance: ServiceInstance) => InstanceBreaker) | undefined;
  private readonly logger: DiscoveryLogger;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly loading = new Map<string, Promise<Listing>>();
  private readonly cursors = new Map<string, number>();
  /** Services whose last registry read failed: their list is the last known one, unverified. */
  private readonly stale = new Set<string>();

  constructor(options: DiscoveryClientOptions) {
    this.registry = options.registry;
    this.cacheTtlMs = options.cacheTtlMs ?? 1_000;
    this.staleIfErrorMs = options.staleIfErrorMs ?? 60_000;
    this.breakerFor = options.breakerFor;
    this.logger = options.logger ?? silentLogger;
    this.now = options.monotonicNow ?? monotonicNow;
  }

  /**
   * Live instances not marked unhealthy, ordered by id. When the registry cannot be read, the last
   * known list is served (stale beats nothing for routing) for up to `staleIfErrorMs` after it was
   * read; with none (or older), REGISTRY_UNAVAILABLE. A failed read counts as a read for the cache:
   * the registry is asked again after `cacheTtlMs`, not by every request. Meanwhile (the last read
   * failed) the known list is answered at once and the registry read again in the background, so
   * only the request that first finds the registry down waits for its read's time budget.
   */
  async healthyInstances(service: string): Promise<ServiceInstance[]> {
    return (await this.listing(service)).healthy;
  }

  /**
   * Every live instance (its registry lease is current), healthy or marked unhealthy, ordered by id;
   * same cache, stale-if-error bound and errors as `healthyInstances`. For a fallback when no healthy
   * instance can serve (the gateway's panic routing): a mark may lag an instance's recovery.
   */
  async liveInstances(service: string): Promise<ServiceInstance[]> {
    return (await this.listing(service)).live;
  }

  private async listing(service: string): Promise<Listing> {
    const cached = this.cache.get(service);
    const now = this.now();
    if (cached && now - cached.at < this.cacheTtlMs) return this.usable(service, cached);
    let pending = this.loading.get(service);
    if (!pending) {
      // One registry read per service at a time, however many requests arrive meanwhile.
      pending = this.load(service).finally(() => this.loading.delete(service));
      this.loading.set(service, pending);
    }
    if (cached && this.stale.has(service) && now - cached.verifiedAt < this.staleIfErrorMs) {
      pending.catch(() => {}); // its outcome is for later requests
      return cached.listing;
    }
    const listing = await pending;
    // A read that joined one started earlier may hand back a list that has since passed the bound.
    const entry = this.cache.get(service);
    return entry && this.stale.has(service) ? this.usable(service, entry) : listing;
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

  /** The cached lists, unless they are stale ones past the stale-if-error bound. */
  private usable(service: string, entry: CacheEntry): Listing {
    if (!this.stale.has(service) || this.now() - entry.verifiedAt < this.staleIfErrorMs) {
      return entry.listing;
    }
    throw unavailable(service, undefined);
  }

  /** Drops the cached list of one service, or of all. */
  invalidate(service?: string): void {
    if (service === undefined) this.cache.clear();
    else this.cache.delete(service);
  }

  private async load(service: string): Promise<Listing> {
    try {
      // A copy: the registry's array is not sorted in place.
      const live = [...(await this.registry.list(service))].sort((a, b) =>
        a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0,
      );
      const listing = { live, healthy: live.filter((i) => i.status !== "unhealthy") };
      const at = this.now();
      this.cache.set(service, { at, verifiedAt: at, listing });
      this.stale.delete(service);
      return listing;
    } catch (error) {
      const known = this.cache.get(service);
      if (!known) throw unavailable(service, error);
      // Not asked again before cacheTtlMs: a dead registry is not hit by every request.
      known.at = this.now();
      if (!this.stale.has(service)) {
        this.stale.add(service);
        this.logger.warn({ err: error, service }, "registry unreadable; routing on the last known instances");
      }
      return this.usable(service, known);
    }
  }
}

function unavailable(service: string, cause: unknown): DiscoveryError {
  return new DiscoveryError("REGISTRY_UNAVAILABLE", `Cannot read instances of "${service}"`, {
    retryable: true,
    ...(cause === undefined ? {} : { cause }),
  });
}
