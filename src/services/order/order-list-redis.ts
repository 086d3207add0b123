/**
 * The order list index on Redis, under the `{order}` tag: a sorted set of every order and one per
 * user, all scores 0 and members `<creation ms>:<order id>`, so a page is one `ZREVRANGEBYLEX ...
 * LIMIT` (O(log N + limit)); plus a hash of each order's entry and projection position, and the
 * checkpoint. A commit is one script, compare-and-set on the checkpoint.
 */
import type { Redis } from "ioredis";
import {
  type InlineRedisWrite,
  type InlineView,
  type ReadModelCommit,
  unmarkRebuildOnRedis,
  type ViewRecord,
  viewRecordArg,
} from "../../lib/eventstore/index.js";
import { LuaScript } from "../../lib/redis/index.js";
import { ORDER_TAG, rebuildMarkerKeyOf } from "./keys.js";
import {
  decodeCursor,
  encodeCursor,
  listMember,
  type OrderListEntry,
  type OrderListIndex,
  type OrderListPage,
  type OrderListQuery,
  orderIdOfMember,
  orderListProjection,
} from "./order-list.js";

/** Every order, newest last (sorted set, lexicographic members). */
export const orderListKey = (tag = ORDER_TAG): string => `{${tag}}:${orderListProjection.name}:all`;
/** One user's orders. */
export const userOrderListKey = (userId: string, tag = ORDER_TAG): string =>
  `{${tag}}:${orderListProjection.name}:user:${userId}`;
const recordsKey = (tag: string) => `{${tag}}:${orderListProjection.name}:records`;
const checkpointKey = (tag: string) => `{${tag}}:${orderListProjection.name}:checkpoint`;
/** The rebuild marker: kept by `clear` (a rebuild sets it before clearing). */
export const orderListRebuildMarkerKey = (tag = ORDER_TAG): string =>
  rebuildMarkerKeyOf(tag, orderListProjection.name);

/**
 * KEYS: records hash, checkpoint, all-orders zset, then one user zset per view. ARGV: expected
 * checkpoint ("" for none), new checkpoint, then (order id, member, record JSON) per view, in the
 * order of the user keys. An order already indexed keeps its place (its entry never changes).
 */
const COMMIT = new LuaScript(`
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return 0 end
local n = 0
for i = 3, #ARGV, 3 do
  n = n + 1
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 2]) == 1 then
    redis.call('ZADD', KEYS[3], 0, ARGV[i + 1])
    redis.call('ZADD', KEYS[3 + n], 0, ARGV[i + 1])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`);

export class RedisOrderListIndex implements OrderListIndex {
  private readonly tag: string;

  constructor(
    private readonly redis: Redis,
    tag = ORDER_TAG,
  ) {
    this.tag = tag;
  }

  async page(query: OrderListQuery): Promise<OrderListPage> {
    const key =
      query.userId === undefined ? orderListKey(this.tag) : userOrderListKey(query.userId, this.tag);
    let max = "+";
    if (query.cursor !== undefined) {
      const member = decodeCursor(query.cursor);
      if (member === undefined) return { ids: [] };
      max = `(${member}`;
    }
    // One more than asked tells whether another page follows.
    const members = await this.redis.zrevrangebylex(key, max, "-", "LIMIT", 0, query.limit + 1);
    const shown = members.slice(0, query.limit);
    const ids = shown.map(orderIdOfMember);
    const last = shown.at(-1);
    return members.length > query.limit && last !== undefined
      ? { ids, nextCursor: encodeCursor(last) }
      : { ids };
  }

  async get(key: string): Promise<OrderListEntry | undefined> {
    const json = await this.redis.hget(recordsKey(this.tag), key);
    return json === null ? undefined : (JSON.parse(json) as ViewRecord<OrderListEntry>).value;
  }

  async load(keys: readonly string[]): Promise<Map<string, ViewRecord<OrderListEntry>>> {
    const found = new Map<string, ViewRecord<OrderListEntry>>();
    if (keys.length === 0) return found;
    const values = await this.redis.hmget(recordsKey(this.tag), ...keys);
    keys.forEach((key, i) => {
      const json = values[i];
      if (json) found.set(key, JSON.parse(json) as ViewRecord<OrderListEntry>);
    });
    return found;
  }

  /** Every entry: for rebuild checks and tests, never for a request (it grows with the orders). */
  async all(): Promise<Map<string, OrderListEntry>> {
    const entries = Object.entries(await this.redis.hgetall(recordsKey(this.tag)));
    return new Map(entries.map(([id, json]) => [id, (JSON.parse(json) as ViewRecord<OrderListEntry>).value]));
  }

  async checkpoint(): Promise<string | undefined> {
    return (await this.redis.get(checkpointKey(this.tag))) ?? undefined;
  }

  async commit(batch: ReadModelCommit<OrderListEntry>): Promise<boolean> {
    const keys = [recordsKey(this.tag), checkpointKey(this.tag), orderListKey(this.tag)];
    const args: string[] = [batch.expectedCheckpoint ?? "", batch.checkpoint];
    for (const [id, record] of batch.views) {
      keys.push(userOrderListKey(record.value.userId, this.tag));
      args.push(id, listMember(id, record.value.createdAtMs), JSON.stringify(record));
    }
    return (await COMMIT.run(this.redis, keys, args)) === 1;
  }

  /**
   * The append script's writes. Only an order's creation is indexed, the first event of its stream
   * (an append pinned to "no_stream"), so the entry is new: its members are added, never moved.
   */
  inlineWrites(views: ReadonlyMap<string, InlineView<OrderListEntry>>): InlineRedisWrite[] {
    const writes: InlineRedisWrite[] = [];
    for (const [id, view] of views) {
      const member = listMember(id, view.value.createdAtMs);
      writes.push({ command: "HSET", key: recordsKey(this.tag), args: [id, viewRecordArg(view)] });
      writes.push({ command: "ZADD", key: orderListKey(this.tag), args: ["0", member] });
      writes.push({
        command: "ZADD",
        key: userOrderListKey(view.value.userId, this.tag),
        args: ["0", member],
      });
    }
    return writes;
  }

  /**
   * Removes the index (user lists found by SCAN, in batches: never one blocking command), but not
   * the rebuild marker.
   */
  async clear(): Promise<void> {
    const pattern = `{${this.tag}}:${orderListProjection.name}:*`;
    const marker = orderListRebuildMarkerKey(this.tag);
    let cursor = "0";
    do {
      const [next, scanned] = await this.redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      const found = scanned.filter((key) => key !== marker);
      if (found.length > 0) await this.redis.unlink(...found);
    } while (cursor !== "0");
  }

  async rebuildMarker(): Promise<string | undefined> {
    return (await this.redis.get(orderListRebuildMarkerKey(this.tag))) ?? undefined;
  }

  async markRebuild(id: string): Promise<void> {
    await this.redis.set(orderListRebuildMarkerKey(this.tag), id);
  }

  unmarkRebuild(id: string, checkpoint: string | undefined): Promise<boolean> {
    return unmarkRebuildOnRedis(
      this.redis,
      orderListRebuildMarkerKey(this.tag),
      checkpointKey(this.tag),
      id,
      checkpoint,
    );
  }
}
