/**
 * The simulated channel provider's idempotency ledger in Redis (see SendLedger): one key per
 * notification id, written once (SET NX), shared by every instance of the service as a real
 * provider's ledger is shared by all its clients (break34 F3: with a ledger per process, a fact
 * taken over after a kill between the send and its record was sent a second time). Keys expire
 * after `ttlMs` (the platform's MARKER_TTL_MS, 7 days by default), past every redelivery of the
 * fact, like a real provider's idempotency window (Stripe keeps keys at least 24 h).
 */
import type { Redis } from "ioredis";
import { LuaScript } from "../../lib/redis/lua-script.js";
import { providerFlakyKey, providerSentKey } from "./keys.js";
import type { ProviderResult, SendLedger } from "./providers.js";

/** KEYS[1] the answer key; ARGV[1] the answer (JSON), ARGV[2] TTL ms. Returns the earlier answer or false. */
const SETTLE = new LuaScript(`
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`);

/** Parses a stored answer; a value that is not one (hand-edited) counts as accepted: nothing is sent twice. */
function answerOf(stored: string): ProviderResult {
  try {
    const parsed = JSON.parse(stored) as { status?: unknown; reason?: unknown };
    if (parsed.status === "rejected")
      return { status: "rejected", reason: typeof parsed.reason === "string" ? parsed.reason : "rejected" };
  } catch {
    // Unreadable: see above.
  }
  return { status: "accepted" };
}

export class RedisSendLedger implements SendLedger {
  constructor(
    private readonly redis: Redis,
    /** Lifetime (ms) of each id's answer and flaky mark. */
    private readonly ttlMs: number,
  ) {}

  async settle(
    notificationId: string,
    result: ProviderResult,
    atMs: number,
  ): Promise<ProviderResult | undefined> {
    const value = JSON.stringify({ ...result, at: atMs });
    const earlier = await SETTLE.run(this.redis, [providerSentKey(notificationId)], [value, this.ttlMs]);
    return typeof earlier === "string" ? answerOf(earlier) : undefined;
  }

  async firstTry(notificationId: string): Promise<boolean> {
    return (await this.redis.set(providerFlakyKey(notificationId), "1", "PX", this.ttlMs, "NX")) === "OK";
  }
}
