/**
 * Lua scripts of the Redis registry. Each one checks that the instance key still exists in the same
 * atomic step as its write, so a late heartbeat, health verdict or prune can never resurrect an
 * expired instance or unindex a freshly re-registered one.
 */
import { LuaScript } from "../redis/index.js";

/** KEYS: inst, index, services. ARGV: ttlMs, at, instanceId, service. */
export const HEARTBEAT = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'lastHeartbeat', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
`);

/** KEYS: inst. ARGV: status, consecutiveFailures. */
export const SET_HEALTH = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'consecutiveFailures', ARGV[2])
return 1
`);

/** KEYS: inst, index, services. ARGV: instanceId, service. Returns 1 when the instance existed. */
export const DEREGISTER = new LuaScript(`
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return existed
`);

/**
 * KEYS: services, index, inst_1..inst_n. ARGV: service, id_1..id_n. Unindexes ids whose instance
 * key is gone, and the service name once no id is left. Returns how many ids were unindexed.
 */
export const PRUNE = new LuaScript(`
local removed = 0
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    removed = removed + redis.call('SREM', KEYS[2], ARGV[i - 1])
  end
end
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
return removed
`);
