/**
 * Redis adapters of the order service's stores. The event store and the order view are the
 * library's adapters under the `{order}` tag; the deadline index is a sorted set (order id scored
 * by its deadline) so the sweeper asks Redis for the overdue orders only.
 */
import type { Redis } from "ioredis";
import {
  type InlineRedisWrite,
  type InlineView,
  type ReadModelCommit,
  RedisEventStore,
  RedisReadModelStore,
  unmarkRebuildOnRedis,
  type ViewRecord,
} from "../../lib/eventstore/index.js";
import { LuaScript } from "../../lib/redis/index.js";
import { RedisIdempotencyRecords } from "./idempotency-records-redis.js";
import { RedisOrderListIndex } from "./order-list-redis.js";
import {
  deadlineCheckpointKey,
  deadlineIndexKey,
  deadlinePositionsKey,
  ORDER_TAG,
  rebuildMarkerKeyOf,
  shredIntentsKey,
} from "./keys.js";
import {
  type DeadlineView,
  deadlineProjection,
  type OrderView,
  orderViewProjection,
  type ShredIntentView,
} from "./projections.js";
import type { DeadlineIndex, OrderStores, ShredIntents } from "./store.js";

/**
 * KEYS: due zset, positions hash, checkpoint. ARGV: expected checkpoint ("" for none), new
 * checkpoint, then (order id, position, deadline or "") per view. Compare-and-set on the
 * checkpoint, so two runners never apply one batch twice; "" removes the order from the index.
 */
const COMMIT = new LuaScript(`
local current = redis.call('GET', KEYS[3]) or ''
if current ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 3 do
  if ARGV[i + 2] == '' then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('SET', KEYS[3], ARGV[2])
return 1
`);

export interface RedisDeadlineIndexOptions {
  redis: Redis;
  tag?: string;
  name?: string;
}

export class RedisDeadlineIndex implements DeadlineIndex {
  private readonly redis: Redis;
  private readonly dueKey: string;
  private readonly positionsKey: string;
  private readonly checkpointKey: string;
  private readonly markerKey: string;

  constructor(options: RedisDeadlineIndexOptions) {
    const tag = options.tag ?? ORDER_TAG;
    const name = options.name ?? deadlineProjection.name;
    this.redis = options.redis;
    this.dueKey = deadlineIndexKey(tag, name);
    this.positionsKey = deadlinePositionsKey(tag, name);
    this.checkpointKey = deadlineCheckpointKey(tag, name);
    this.markerKey = rebuildMarkerKeyOf(tag, name);
  }

  async due(now: number, limit: number, offset = 0): Promise<string[]> {
    return this.redis.zrangebyscore(this.dueKey, "-inf", now, "LIMIT", offset, limit);
  }

  async get(key: string): Promise<DeadlineView | undefined> {
    const score = await this.redis.zscore(this.dueKey, key);
    return score === null ? undefined : { deadline: Number(score) };
  }

  async load(keys: readonly string[]): Promise<Map<string, ViewRecord<DeadlineView>>> {
    const found = new Map<string, ViewRecord<DeadlineView>>();
    if (keys.length === 0) return found;
    const [positions, scores] = await Promise.all([
      this.redis.hmget(this.positionsKey, ...keys),
      this.redis.zmscore(this.dueKey, ...keys),
    ]);
    keys.forEach((key, i) => {
      const position = positions[i];
      const score = scores[i];
      if (position && score !== null && score !== undefined) {
        found.set(key, { position, value: { deadline: Number(score) } });
      }
    });
    return found;
  }

  async all(): Promise<Map<string, DeadlineView>> {
    const flat = await this.redis.zrange(this.dueKey, 0, -1, "WITHSCORES");
    const views = new Map<string, DeadlineView>();
    for (let i = 0; i + 1 < flat.length; i += 2) views.set(flat[i] ?? "", { deadline: Number(flat[i + 1]) });
    return views;
  }

  async checkpoint(): Promise<string | undefined> {
    return (await this.redis.get(this.checkpointKey)) ?? undefined;
  }

  async commit(batch: ReadModelCommit<DeadlineView>): Promise<boolean> {
    const args: string[] = [batch.expectedCheckpoint ?? "", batch.checkpoint];
    for (const [id, record] of batch.views) {
      args.push(id, record.position, record.value.deadline === null ? "" : String(record.value.deadline));
    }
    const keys = [this.dueKey, this.positionsKey, this.checkpointKey];
    return (await COMMIT.run(this.redis, keys, args)) === 1;
  }

  /** The append script's writes: the same as `commit`'s for each view, without the checkpoint. */
  inlineWrites(views: ReadonlyMap<string, InlineView<DeadlineView>>): InlineRedisWrite[] {
    const writes: InlineRedisWrite[] = [];
    for (const [id, view] of views) {
      const deadline = view.value.deadline;
      if (deadline === null) {
        writes.push({ command: "ZREM", key: this.dueKey, args: [id] });
        writes.push({ command: "HDEL", key: this.positionsKey, args: [id] });
      } else {
        writes.push({ command: "ZADD", key: this.dueKey, args: [String(deadline), id] });
        const position = { before: "", event: view.event, after: "" };
        writes.push({ command: "HSET", key: this.positionsKey, args: [id, position] });
      }
    }
    return writes;
  }

  async clear(): Promise<void> {
    await this.redis.unlink(this.dueKey, this.positionsKey, this.checkpointKey);
  }

  async rebuildMarker(): Promise<string | undefined> {
    return (await this.redis.get(this.markerKey)) ?? undefined;
  }

  async markRebuild(id: string): Promise<void> {
    await this.redis.set(this.markerKey, id);
  }

  unmarkRebuild(id: string, checkpoint: string | undefined): Promise<boolean> {
    return unmarkRebuildOnRedis(this.redis, this.markerKey, this.checkpointKey, id, checkpoint);
  }
}

/** Shred intents: a sorted set in the `{order}` slot, order id scored by when its saga ended (ms). */
export class RedisShredIntents implements ShredIntents {
  private readonly key = shredIntentsKey();

  constructor(private readonly redis: Redis) {}

  async due(endedBy: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.key, "-inf", endedBy, "LIMIT", 0, limit);
  }

  async remove(orderId: string): Promise<void> {
    await this.redis.zrem(this.key, orderId);
  }

  /** The append script's write: the intent, in the same atomic step as the event that ends the saga. */
  inlineWrites(views: ReadonlyMap<string, InlineView<ShredIntentView>>): InlineRedisWrite[] {
    const writes: InlineRedisWrite[] = [];
    for (const [id, view] of views) {
      const endedAt = view.value.endedAt;
      // Only an adding write: a status change that does not end the saga never drops an intent.
      if (endedAt !== null) writes.push({ command: "ZADD", key: this.key, args: [String(endedAt), id] });
    }
    return writes;
  }
}

export interface RedisOrderStoresOptions {
  redis: Redis;
  now?: () => number;
}

export function createRedisOrderStores(options: RedisOrderStoresOptions): OrderStores {
  const { redis } = options;
  const clock = options.now ? { now: options.now } : {};
  // Projections read and write in large batches; on a connection of their own they never queue
  // in front of a saga step's commands (one connection serves its commands in order).
  // Its connection errors reach the platform's listener (the service's logger) through the
  // platform client's duplicate() (src/lib/redis/resend-guard.ts).
  const background = redis.duplicate();
  return {
    events: new RedisEventStore({ redis, tag: ORDER_TAG, ...clock }),
    projectionEvents: new RedisEventStore({ redis: background, tag: ORDER_TAG, ...clock }),
    views: new RedisReadModelStore<OrderView>({
      redis: background,
      tag: ORDER_TAG,
      name: orderViewProjection.name,
    }),
    deadlines: new RedisDeadlineIndex({ redis: background }),
    list: new RedisOrderListIndex(background),
    idempotency: new RedisIdempotencyRecords(redis),
    shredIntents: new RedisShredIntents(redis),
    close: async () => {
      background.disconnect();
    },
  };
}
