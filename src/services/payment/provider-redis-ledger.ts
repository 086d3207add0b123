import type { Redis } from "ioredis";
import { z } from "zod";
import { LuaScript } from "../../lib/redis/index.js";
import {
  providerCallsKey,
  providerDownKey,
  providerEntryKey,
  providerIdKey,
  providerIndexKey,
} from "./keys.js";
import type { LedgerEntry, ProviderLedger } from "./provider.js";

const LedgerEntrySchema = z.object({
  kind: z.enum(["charge", "refund"]),
  idempotencyKey: z.string(),
  id: z.string(),
  status: z.enum(["approved", "declined"]),
  amount: z.number(),
  currency: z.string(),
  fingerprint: z.string().optional(),
  chargeId: z.string().optional(),
  createdAt: z.string(),
});

const parseEntry = (json: string): LedgerEntry => LedgerEntrySchema.parse(JSON.parse(json));

// KEYS: entry, id index, kind index (a sorted set by expiry). ARGV: entry JSON, lifetime ms, now
// (epoch ms). First writer wins; later writers get the
// stored entry.
const PUT_IF_ABSENT = new LuaScript(`
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], KEYS[1], 'PX', ARGV[2])
-- The dashboard's index lives as long as its entries: expired ones are pruned on every write.
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]) + tonumber(ARGV[2]), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
return {1, ARGV[1]}
`);

/**
 * How long the simulated provider keeps a charge or refund (and its id index) when not told: 7 days,
 * as `DEFAULT_RETENTION.markerTtlMs`. A real provider keeps its ledger itself; this stand-in lives
 * in our Redis, so it keeps an entry as long as a retry or a refund of the order can still come
 * (the bus's must-complete window is 6 h), like a provider's idempotency-key window.
 */
const DEFAULT_ENTRY_TTL_MS = 7 * 86_400_000;

export interface RedisProviderLedgerOptions {
  /**
   * Lifetime (ms) of a ledger entry, its id index and the call counter of its idempotency key
   * (counters only drive `tok_flaky`; capped at 24 h).
   */
  entryTtlMs?: number;
}

const MAX_CALL_COUNTER_TTL_MS = 24 * 3600_000;

export class RedisProviderLedger implements ProviderLedger {
  private readonly entryTtlMs: number;

  constructor(
    private readonly redis: Redis,
    options: RedisProviderLedgerOptions = {},
  ) {
    this.entryTtlMs = options.entryTtlMs ?? DEFAULT_ENTRY_TTL_MS;
  }

  async putIfAbsent(entry: LedgerEntry): Promise<{ entry: LedgerEntry; created: boolean }> {
    const keys = [
      providerEntryKey(entry.kind, entry.idempotencyKey),
      providerIdKey(entry.id),
      providerIndexKey(entry.kind),
    ];
    const args = [JSON.stringify(entry), this.entryTtlMs, Date.now()];
    const [created, json] = (await PUT_IF_ABSENT.run(this.redis, keys, args)) as [number, string];
    return { entry: parseEntry(json), created: created === 1 };
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

  async countCall(idempotencyKey: string): Promise<number> {
    const key = providerCallsKey(idempotencyKey);
    const ttl = Math.min(this.entryTtlMs, MAX_CALL_COUNTER_TTL_MS);
    const results = await this.redis.multi().incr(key).pexpire(key, ttl).exec();
    const count = results?.[0]?.[1];
    if (typeof count !== "number") throw new Error("INCR of the provider call counter failed");
    return count;
  }

  async unavailableUntil(): Promise<number> {
    return Number((await this.redis.get(providerDownKey())) ?? 0);
  }

  async setUnavailableUntil(untilMs: number): Promise<void> {
    await this.redis.set(providerDownKey(), String(untilMs));
  }

  async list(kind: LedgerEntry["kind"]): Promise<LedgerEntry[]> {
    const keys = await this.redis.zrangebyscore(providerIndexKey(kind), Date.now(), "+inf");
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    return values.filter((v): v is string => v !== null).map(parseEntry);
  }
}
