import type { Redis } from "ioredis";
import { z } from "zod";
import { LuaScript } from "../../lib/redis/index.js";
import {
  providerCallsKey,
  providerDownKey,
  providerEntryKey,
  providerIdKey,
  providerIndexKey,
  providerInFlightKey,
} from "./keys.js";
import type { InstantFailure, InstantOutcome, LedgerEntry, LedgerPage, ProviderLedger } from "./provider.js";

const LedgerEntrySchema = z.object({
  kind: z.enum(["charge", "refund"]),
  idempotencyKey: z.string(),
  id: z.string(),
  status: z.enum(["approved", "declined", "voided"]),
  amount: z.number(),
  currency: z.string(),
  fingerprint: z.string().optional(),
  chargeId: z.string().optional(),
  createdAt: z.string(),
});

const parseEntry = (json: string): LedgerEntry => LedgerEntrySchema.parse(JSON.parse(json));

// KEYS: entry, id index, kind index (a sorted set by creation, epoch ms). ARGV: entry JSON, entry
// creation (epoch ms). Defines `put_if_absent(before)`: first writer wins, later writers get the
// stored entry ({0, JSON}); a new entry is stored ({1, JSON}) unless `before` (run only when the
// entry is absent) returns a reply, which is returned instead with nothing stored.
const PUT_IF_ABSENT_LUA = `
local function put_if_absent(before)
  local existing = redis.call('GET', KEYS[1])
  if existing then return {0, existing} end
  local refused = before and before()
  if refused then return refused end
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], KEYS[1])
  redis.call('ZADD', KEYS[3], ARGV[2], KEYS[1])
  return {1, ARGV[1]}
end
`;
const PUT_IF_ABSENT = new LuaScript(`${PUT_IF_ABSENT_LUA}
return put_if_absent()`);

// KEYS: as PUT_IF_ABSENT, then down-until, in-flight mark, call counter. ARGV: as PUT_IF_ABSENT,
// then now (epoch ms), call counter lifetime ms, failing calls ('never' | 'first' | 'always'). The
// whole of an instant charge (ProviderLedger.chargeInstantly): {'down'}, {'busy'}, {'failed'} or
// PUT_IF_ABSENT's reply; the call is counted only when no entry is stored yet. A call that cannot
// fail ('never') is not counted: it stores the entry, so every later call with its key is a replay
// and its count would never be read (two commands fewer per charge).
const CHARGE_INSTANTLY = new LuaScript(`${PUT_IF_ABSENT_LUA}
if tonumber(ARGV[3]) < tonumber(redis.call('GET', KEYS[4]) or '0') then return {'down'} end
if redis.call('EXISTS', KEYS[5]) == 1 then return {'busy'} end
local count_and_fail = nil
if ARGV[5] ~= 'never' then
  count_and_fail = function()
    local calls = redis.call('INCR', KEYS[6])
    redis.call('PEXPIRE', KEYS[6], ARGV[4])
    if ARGV[5] == 'always' or calls == 1 then return {'failed'} end
  end
end
return put_if_absent(count_and_fail)
`);

export interface RedisProviderLedgerOptions {
  /** Lifetime (ms) of the call counter of an idempotency key (only drives `tok_flaky`; capped at 24 h). */
  callCounterTtlMs?: number;
}

const MAX_CALL_COUNTER_TTL_MS = 24 * 3600_000;

/**
 * The simulated provider's ledger in our Redis. Like a provider's dashboard it never forgets money:
 * entries (and their id index) carry no TTL and live as long as the payment records they stand
 * behind (which are kept), so the reconciliation never sees a charge "disappear" and a late manual
 * refund still finds its charge. Size: at most one charge and one refund per order.
 */
export class RedisProviderLedger implements ProviderLedger {
  private readonly callCounterTtlMs: number;

  constructor(
    private readonly redis: Redis,
    options: RedisProviderLedgerOptions = {},
  ) {
    this.callCounterTtlMs = Math.min(
      options.callCounterTtlMs ?? MAX_CALL_COUNTER_TTL_MS,
      MAX_CALL_COUNTER_TTL_MS,
    );
  }

  async putIfAbsent(entry: LedgerEntry): Promise<{ entry: LedgerEntry; created: boolean }> {
    const reply = await PUT_IF_ABSENT.run(this.redis, this.entryKeys(entry), this.entryArgs(entry));
    const [created, json] = reply as [number, string];
    return { entry: parseEntry(json), created: created === 1 };
  }

  async chargeInstantly(entry: LedgerEntry, nowMs: number, fail: InstantFailure): Promise<InstantOutcome> {
    const keys = [
      ...this.entryKeys(entry),
      providerDownKey(),
      providerInFlightKey("charge", entry.idempotencyKey),
      providerCallsKey(entry.idempotencyKey),
    ];
    const args = [...this.entryArgs(entry), nowMs, this.callCounterTtlMs, fail];
    const [kind, json] = (await CHARGE_INSTANTLY.run(this.redis, keys, args)) as [string | number, string?];
    if (kind === "down" || kind === "busy" || kind === "failed") return { kind };
    return { kind: "stored", entry: parseEntry(json ?? ""), created: kind === 1 };
  }

  /** PUT_IF_ABSENT's KEYS and ARGV for `entry`. */
  private entryKeys(entry: LedgerEntry): string[] {
    return [
      providerEntryKey(entry.kind, entry.idempotencyKey),
      providerIdKey(entry.id),
      providerIndexKey(entry.kind),
    ];
  }

  private entryArgs(entry: LedgerEntry): (string | number)[] {
    // The index's score is the entry's own date (the provider's clock, Redis's): the orphan pass of
    // every instance scans it by time, so never this host's clock in its place (break19 F1).
    const createdMs = Date.parse(entry.createdAt);
    if (!Number.isFinite(createdMs)) throw new Error(`ledger entry ${entry.id}: invalid createdAt`);
    return [JSON.stringify(entry), createdMs];
  }

  async get(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<LedgerEntry | undefined> {
    const json = await this.redis.get(providerEntryKey(kind, idempotencyKey));
    return json === null ? undefined : parseEntry(json);
  }

  async getById(id: string): Promise<LedgerEntry | undefined> {
    const key = await this.redis.get(providerIdKey(id));
    if (key === null) return undefined;
    const json = await this.redis.get(key);
    return json === null ? undefined : parseEntry(json);
  }

  async beginCall(kind: LedgerEntry["kind"], idempotencyKey: string, leaseMs: number): Promise<boolean> {
    const key = providerInFlightKey(kind, idempotencyKey);
    return (await this.redis.set(key, "1", "PX", leaseMs, "NX")) === "OK";
  }

  async endCall(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<void> {
    await this.redis.del(providerInFlightKey(kind, idempotencyKey));
  }

  async inFlight(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<boolean> {
    return (await this.redis.exists(providerInFlightKey(kind, idempotencyKey))) === 1;
  }

  async unavailableUntil(): Promise<number> {
    return Number((await this.redis.get(providerDownKey())) ?? 0);
  }

  async setUnavailableUntil(untilMs: number): Promise<void> {
    await this.redis.set(providerDownKey(), String(untilMs));
  }

  async list(kind: LedgerEntry["kind"], page?: LedgerPage): Promise<LedgerEntry[]> {
    const ranged = page && (page.fromMs !== undefined || page.toMs !== undefined);
    const [start, stop] = page ? [page.offset, page.offset + page.limit - 1] : [0, -1];
    // A creation-time range: the index's score (the orphan pass scans by time, not by rank).
    const keys = ranged
      ? await this.redis.zrangebyscore(
          providerIndexKey(kind),
          page.fromMs ?? "-inf",
          page.toMs ?? "+inf",
          "LIMIT",
          page.offset,
          page.limit,
        )
      : await this.redis.zrange(providerIndexKey(kind), start, stop);
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    return values.filter((v): v is string => v !== null).map(parseEntry);
  }
}
