/**
 * Lua scripts of the Redis registry. Each one checks that the instance key still exists in the same
 * atomic step as its write, so a late heartbeat, health verdict or prune can never resurrect an
 * expired instance or unindex a freshly re-registered one.
 *
 * The liveness writes (REGISTER, HEARTBEAT, SET_HEALTH) declare `allow-oom` (Redis 7 script flags):
 * at `maxmemory` under `noeviction` Redis refuses every command that may grow memory, and a refused
 * heartbeat let every instance's entry expire after its TTL, so the gateway routed nothing, reads
 * Redis still served included (break38 F1). What they may add is bounded: one small hash per
 * running process (a registration deletes the previous entry first) and its ids in two sets, so
 * going a few hundred bytes per instance over `maxmemory` is the price of reads staying up.
 * DEREGISTER and PRUNE only delete (DEL, SREM run at OOM without the flag).
 */
import { LuaScript } from "../redis/index.js";

/** First line of a script that Redis runs even at `maxmemory` (Redis >= 7.0; EVAL and EVALSHA). */
const ALLOW_OOM = "#!lua flags=allow-oom";

/**
 * The fields a registration writes and a heartbeat does not: an entry missing any of them cannot be
 * read back (`decode` in redis-registry.ts reads it as absent, so the gateway lists no instance).
 */
export const REGISTERED_FIELDS = [
  "service",
  "instanceId",
  "address",
  "port",
  "version",
  "startedAt",
  "status",
] as const;

/**
 * KEYS: inst, index, services. ARGV: ttlMs, at, instanceId, service. Returns 1 when refreshed, 0
 * when the entry is absent or incomplete (the agent then registers again). An incomplete entry is
 * deleted: a registration writes every field in one atomic step (REGISTER), so a hash without them
 * is a husk, e.g. what a partial AOF replay left (newuser15 F1: the health verdict's HSET replayed,
 * the registration, then a MULTI, did not); refreshing it kept an entry no one could decode alive for ever,
 * and the instance never re-registered. HGET per field, not HMGET: every service's ACL user has
 * HGET (src/system/redis-acl.ts).
 */
export const HEARTBEAT = new LuaScript(`${ALLOW_OOM}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, field in ipairs({${REGISTERED_FIELDS.map((f) => `'${f}'`).join(", ")}}) do
  local value = redis.call('HGET', KEYS[1], field)
  if not value or value == '' then
    redis.call('DEL', KEYS[1])
    return 0
  end
end
redis.call('HSET', KEYS[1], 'lastHeartbeat', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
`);

/**
 * KEYS: inst, index, services. ARGV: ttlMs, instanceId, service, then field/value pairs. Replaces
 * the entry whole (DEL first: a re-registration must not inherit fields, metadata, of the previous
 * one), as the MULTI it replaces did; a script so that it runs at `maxmemory` too (a MULTI's
 * HSET is refused there: a process started or re-registering while Redis is full stayed unlisted).
 */
export const REGISTER = new LuaScript(`${ALLOW_OOM}
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
`);

/** KEYS: inst. ARGV: status, consecutiveFailures. */
export const SET_HEALTH = new LuaScript(`${ALLOW_OOM}
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
