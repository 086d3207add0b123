/**
 * Redis registry. Liveness lives in Redis: each instance is a hash with a PEXPIRE, refreshed by
 * heartbeats, so an instance whose heartbeats stop disappears whatever the machines' clocks say.
 * Per-service sets only index ids; `list` reads every indexed key and prunes ids whose key has gone.
 */
import type { Redis } from "ioredis";
import { execOrThrow } from "../redis/index.js";
import { instanceKey, serviceIndexKey, servicesKey } from "./keys.js";
import { DEREGISTER, HEARTBEAT, PRUNE, REGISTER, SET_HEALTH } from "./scripts.js";
import type { InstanceStatus, ServiceInstance, ServiceRegistry } from "./types.js";
import { validInstance, validTtl } from "./validate.js";

export interface RedisServiceRegistryOptions {
  redis: Redis;
  /** Only stamps lastHeartbeat; expiry is Redis's own clock. */
  now?: () => number;
}

export class RedisServiceRegistry implements ServiceRegistry {
  private readonly redis: Redis;
  private readonly now: () => number;

  constructor(options: RedisServiceRegistryOptions) {
    this.redis = options.redis;
    this.now = options.now ?? Date.now;
  }

  async register(instance: ServiceInstance, ttlMs: number): Promise<void> {
    const valid = validInstance(instance);
    validTtl(ttlMs);
    const keys = [
      instanceKey(valid.service, valid.instanceId),
      serviceIndexKey(valid.service),
      servicesKey(),
    ];
    const fields = Object.entries(encode(valid)).flat();
    await REGISTER.run(this.redis, keys, [ttlMs, valid.instanceId, valid.service, ...fields]);
  }

  async heartbeat(service: string, instanceId: string, ttlMs: number, stamp?: string): Promise<boolean> {
    validTtl(ttlMs);
    const at = stamp ?? new Date(this.now()).toISOString();
    const keys = [instanceKey(service, instanceId), serviceIndexKey(service), servicesKey()];
    return (await HEARTBEAT.run(this.redis, keys, [ttlMs, at, instanceId, service])) === 1;
  }

  async deregister(service: string, instanceId: string): Promise<boolean> {
    const keys = [instanceKey(service, instanceId), serviceIndexKey(service), servicesKey()];
    return (await DEREGISTER.run(this.redis, keys, [instanceId, service])) === 1;
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    const names = service === undefined ? (await this.redis.smembers(servicesKey())).sort() : [service];
    const perService = await Promise.all(names.map((name) => this.listOne(name)));
    return perService.flat();
  }

  async services(): Promise<string[]> {
    const instances = await this.list();
    return [...new Set(instances.map((i) => i.service))].sort();
  }

  async get(service: string, instanceId: string): Promise<ServiceInstance | undefined> {
    return decode(await this.redis.hgetall(instanceKey(service, instanceId)));
  }

  async setHealth(
    service: string,
    instanceId: string,
    status: InstanceStatus,
    consecutiveFailures: number,
  ): Promise<boolean> {
    const keys = [instanceKey(service, instanceId)];
    return (await SET_HEALTH.run(this.redis, keys, [status, consecutiveFailures])) === 1;
  }

  private async listOne(service: string): Promise<ServiceInstance[]> {
    const ids = (await this.redis.smembers(serviceIndexKey(service))).sort();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(instanceKey(service, id));
    const hashes = ids.length === 0 ? [] : await execOrThrow(pipeline);
    const live: ServiceInstance[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const hash = hashes[i] as Record<string, string> | undefined;
      const instance = hash ? decode(hash) : undefined;
      if (instance) live.push(instance);
      else if (!hash || Object.keys(hash).length === 0) gone.push(id);
    });
    if (gone.length > 0 || ids.length === 0) await this.prune(service, gone);
    return live;
  }

  private async prune(service: string, ids: readonly string[]): Promise<void> {
    const keys = [servicesKey(), serviceIndexKey(service), ...ids.map((id) => instanceKey(service, id))];
    await PRUNE.run(this.redis, keys, [service, ...ids]);
  }
}

function encode(instance: ServiceInstance): Record<string, string> {
  const fields: Record<string, string> = {
    service: instance.service,
    instanceId: instance.instanceId,
    address: instance.address,
    port: String(instance.port),
    version: instance.version,
    startedAt: instance.startedAt,
    lastHeartbeat: instance.lastHeartbeat,
    status: instance.status,
    consecutiveFailures: String(instance.consecutiveFailures),
  };
  if (instance.metadata) fields.metadata = JSON.stringify(instance.metadata);
  return fields;
}

/** An empty or incomplete hash (expired, or written by something else) reads as absent. */
function decode(hash: Record<string, string>): ServiceInstance | undefined {
  const { service, instanceId, address, port, version, startedAt, lastHeartbeat, status } = hash;
  if (!service || !instanceId || !address || !port || !version || !startedAt || !lastHeartbeat)
    return undefined;
  if (status !== "healthy" && status !== "unhealthy") return undefined;
  const instance: ServiceInstance = {
    service,
    instanceId,
    address,
    port: Number(port),
    version,
    startedAt,
    lastHeartbeat,
    status,
    consecutiveFailures: Number(hash.consecutiveFailures ?? 0),
  };
  if (hash.metadata) instance.metadata = JSON.parse(hash.metadata) as Record<string, string>;
  return instance;
}
