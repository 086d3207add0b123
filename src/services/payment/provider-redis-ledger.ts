import type { Redis } from "ioredis";
import { z } from "zod";
import { LuaScript } from "../../lib/redis/index.js";
import { providerCallsKey, providerEntryKey, providerIdKey } from "./keys.js";
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

// KEYS: entry, id index. ARGV: entry JSON. First writer wins; later writers get the stored entry.
const PUT_IF_ABSENT = new LuaScript(`
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], KEYS[1])
return {1, ARGV[1]}
`);

/** Call counters only drive `tok_flaky`; they expire so the ledger does not grow with them. */
const CALL_COUNTER_TTL_MS = 24 * 3600_000;

export class RedisProviderLedger implements ProviderLedger {
  constructor(private readonly redis: Redis) {}

  async putIfAbsent(entry: LedgerEntry): Promise<{ entry: LedgerEntry; created: boolean }> {
    const keys = [providerEntryKey(entry.kind, entry.idempotencyKey), providerIdKey(entry.id)];
    const [created, json] = (await PUT_IF_ABSENT.run(this.redis, keys, [JSON.stringify(entry)])) as [
      number,
      string,
    ];
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
    const results = await this.redis.multi().incr(key).pexpire(key, CALL_COUNTER_TTL_MS).exec();
    const count = results?.[0]?.[1];
    if (typeof count !== "number") throw new Error("INCR of the provider call counter failed");
    return count;
  }
}
