import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { LuaScript } from "../../redis/index.js";
import type { ClaimResult, IdempotencyStore } from "./store.js";

// Values: "p:<token>" while a handler holds the lease, "d" once done.
const CLAIM = new LuaScript(`
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return 'acquired' end
local v = redis.call('GET', KEYS[1])
if v == 'd' then return 'processed' end
return 'in_progress'`);

const EXTEND = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`);

const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/**
 * Idempotency marks in Redis: the claim is one atomic SET NX PX (a lease), so two instances racing
 * on the same message cannot both acquire it. Keys are `<prefix><key>`; give each service its own
 * prefix with its hash tag (e.g. `{payment}:idem:`).
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const token = randomUUID();
    const status = await CLAIM.run(this.redis, [this.prefix + key], [`p:${token}`, leaseMs]);
    if (status === "acquired") return { status, token };
    return status === "processed" ? { status } : { status: "in_progress" };
  }

  async complete(key: string, _token: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.prefix + key, "d", "PX", ttlMs);
  }

  async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
    return (await EXTEND.run(this.redis, [this.prefix + key], [`p:${token}`, leaseMs])) === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await RELEASE.run(this.redis, [this.prefix + key], [`p:${token}`]);
  }
}
