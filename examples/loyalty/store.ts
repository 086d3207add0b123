/**
 * Step 2: the state and its events written atomically (the outbox). Awarding points, the dedupe
 * mark (one award per order, so a redelivered `order.completed` changes nothing) and the
 * `loyalty.points.awarded` message are one Lua script on Redis, or one synchronous block in memory.
 * Both adapters pass one contract suite (loyalty.test.ts).
 *
 * Every key is bounded (docs/storage.md, Redis runs `noeviction`): the balance is the system of
 * record (one per user); the dedupe mark is transient and expires after the platform's
 * `MARKER_TTL_MS` (7 days by default), far past any redelivery of the same `order.completed`.
 */
import type { Redis } from "ioredis";
import { assertOwnMessages } from "../../src/lib/bus/outbox.js";
import type { OutgoingMessage } from "../../src/lib/bus/transport.js";
import { OUTBOX_LUA, outboxArgs } from "../../src/lib/bus/transports/redis-outbox.js";
import { eventStreamKey } from "../../src/lib/bus/transports/redis-stream-keys.js";
import { LuaScript } from "../../src/lib/redis/index.js";
import type { PublishMessages } from "../../src/lib/runtime/platform-store.js";

/** Every key of the service shares the `{loyalty}` hash tag (one slot: the script stays legal on a cluster). */
const pointsKey = (userId: string) => `{loyalty}:points:${userId}`;
export const awardedKey = (orderId: string) => `{loyalty}:awarded:${orderId}`;

export interface LoyaltyStore {
  /** Adds `points` once per order and emits `messages` with it; false (nothing emitted) for a repeat. */
  award(
    userId: string,
    orderId: string,
    points: number,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean>;
  points(userId: string): Promise<number>;
}

export class MemoryLoyaltyStore implements LoyaltyStore {
  private readonly balances = new Map<string, number>();
  private readonly awarded = new Set<string>();

  constructor(private readonly publish: PublishMessages) {}

  async award(userId: string, orderId: string, points: number, messages: readonly OutgoingMessage[]) {
    assertOwnMessages("loyalty", messages);
    if (this.awarded.has(orderId)) return false;
    // No await between the check, the change and the publish: atomic within the process.
    this.awarded.add(orderId);
    this.balances.set(userId, (this.balances.get(userId) ?? 0) + points);
    await this.publish(messages);
    return true;
  }

  async points(userId: string): Promise<number> {
    return this.balances.get(userId) ?? 0;
  }
}

// KEYS: awarded mark, points, streams...; ARGV: points, mark TTL (ms), bodies...
// Every check before the first write, the mark last: Redis does not undo a script's earlier writes
// when a later command fails (a command the ACL user lacks, WRONGTYPE), so a mark written first
// would stay without its points and event, and the retry would be "already awarded" (newuser17 F1).
const AWARD = new LuaScript(`${OUTBOX_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
outbox_allowed('INCRBY', KEYS[2], ARGV[1])
outbox_allowed('SET', KEYS[1], '1', 'PX', ARGV[2])
outbox_check(3)
redis.call('INCRBY', KEYS[2], ARGV[1])
outbox(3, 3)
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
return 1`);

export class RedisLoyaltyStore implements LoyaltyStore {
  /** `markTtlMs`: how long the dedupe mark lives (the platform's `retention.markerTtlMs`). */
  constructor(
    private readonly redis: Redis,
    private readonly markTtlMs: number,
  ) {}

  async award(userId: string, orderId: string, points: number, messages: readonly OutgoingMessage[]) {
    assertOwnMessages("loyalty", messages);
    const outbox = outboxArgs(messages, (m) => eventStreamKey("loyalty", m.topic));
    const keys = [awardedKey(orderId), pointsKey(userId), ...outbox.keys];
    const args = [String(points), String(this.markTtlMs), ...outbox.bodies];
    return (await AWARD.run(this.redis, keys, args)) === 1;
  }

  async points(userId: string): Promise<number> {
    return Number((await this.redis.get(pointsKey(userId))) ?? 0);
  }
}
