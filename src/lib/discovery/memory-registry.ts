/**
 * In-memory registry for the embedded runner and tests. Same semantics as the Redis adapter: an
 * entry expires `ttlMs` after its last register or heartbeat, measured on the injected clock.
 */
import type { InstanceStatus, ServiceInstance, ServiceRegistry } from "./types.js";
import { validInstance, validTtl } from "./validate.js";

interface Entry {
  instance: ServiceInstance;
  expiresAt: number;
}

export interface MemoryServiceRegistryOptions {
  now?: () => number;
}

export class MemoryServiceRegistry implements ServiceRegistry {
  private readonly entries = new Map<string, Map<string, Entry>>();
  private readonly now: () => number;

  constructor(options: MemoryServiceRegistryOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  async register(instance: ServiceInstance, ttlMs: number): Promise<void> {
    const valid = structuredClone(validInstance(instance));
    validTtl(ttlMs);
    let byId = this.entries.get(valid.service);
    if (!byId) {
      byId = new Map();
      this.entries.set(valid.service, byId);
    }
    byId.set(valid.instanceId, { instance: valid, expiresAt: this.now() + ttlMs });
  }

  async heartbeat(service: string, instanceId: string, ttlMs: number, at?: string): Promise<boolean> {
    validTtl(ttlMs);
    const entry = this.live(service, instanceId);
    if (!entry) return false;
    const now = this.now();
    entry.instance.lastHeartbeat = at ?? new Date(now).toISOString();
    entry.expiresAt = now + ttlMs;
    return true;
  }

  async deregister(service: string, instanceId: string): Promise<boolean> {
    const existed = this.live(service, instanceId) !== undefined;
    this.entries.get(service)?.delete(instanceId);
    return existed;
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    const names = service === undefined ? [...this.entries.keys()].sort() : [service];
    const out: ServiceInstance[] = [];
    for (const name of names) {
      const ids = [...(this.entries.get(name)?.keys() ?? [])].sort();
      for (const id of ids) {
        const entry = this.live(name, id);
        if (entry) out.push(structuredClone(entry.instance));
      }
    }
    return out;
  }

  async services(): Promise<string[]> {
    const instances = await this.list();
    return [...new Set(instances.map((i) => i.service))].sort();
  }

  async get(service: string, instanceId: string): Promise<ServiceInstance | undefined> {
    const entry = this.live(service, instanceId);
    return entry ? structuredClone(entry.instance) : undefined;
  }

  async setHealth(
    service: string,
    instanceId: string,
    status: InstanceStatus,
    consecutiveFailures: number,
  ): Promise<boolean> {
    const entry = this.live(service, instanceId);
    if (!entry) return false;
    entry.instance.status = status;
    entry.instance.consecutiveFailures = consecutiveFailures;
    return true;
  }

  /** The entry if it has not expired; an expired one is dropped on sight. */
  private live(service: string, instanceId: string): Entry | undefined {
    const byId = this.entries.get(service);
    const entry = byId?.get(instanceId);
    if (!byId || !entry) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    byId.delete(instanceId);
    if (byId.size === 0) this.entries.delete(service);
    return undefined;
  }
}
