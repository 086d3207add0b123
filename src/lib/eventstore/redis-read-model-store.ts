import type { Redis } from "ioredis";
import { checkpointKey, checkTag, readModelKey, rebuildMarkerKey } from "./keys.js";
import { LuaScript } from "../redis/index.js";
import type { ReadModelCommit, ReadModelStore, ViewRecord } from "./read-model-store.js";
import {
  type InlineRedisWrite,
  type InlineTarget,
  type InlineView,
  viewRecordArg,
} from "./inline-projection.js";

/**
 * KEYS: views hash, checkpoint. ARGV: expected checkpoint ("" for none), new checkpoint, then
 * key and JSON of each view. A script rather than MULTI because the write depends on the
 * checkpoint it reads (compare-and-set), which MULTI alone cannot express without WATCH.
 */
const COMMIT = new LuaScript(`
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`);

/**
 * KEYS: rebuild marker, checkpoint. ARGV: the rebuild's id, the checkpoint its replay reached ("" for
 * none). Deletes the marker only if both are unchanged (a rebuild started since cleared the
 * checkpoint and set its own id). Shared by the order service's read models.
 */
export const UNMARK_REBUILD = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/** `unmarkRebuild` on Redis: see `UNMARK_REBUILD`. */
export async function unmarkRebuildOnRedis(
  redis: Redis,
  markerKey: string,
  checkpointKey: string,
  id: string,
  checkpoint: string | undefined,
): Promise<boolean> {
  return (await UNMARK_REBUILD.run(redis, [markerKey, checkpointKey], [id, checkpoint ?? ""])) === 1;
}

export interface RedisReadModelStoreOptions {
  redis: Redis;
  /** Hash tag shared with the event store (`{tag}:rm:<name>`). */
  tag: string;
  /** The projection's name: one read model per projection. */
  name: string;
}

/**
 * Read model on Redis: one hash of JSON views per projection, and a checkpoint string. Also an
 * inline projection's target: `inlineWrites` are the HSETs the event store's append script runs.
 */
export class RedisReadModelStore<V> implements ReadModelStore<V>, InlineTarget<V> {
  private readonly redis: Redis;
  private readonly viewsKey: string;
  private readonly checkpointKey: string;
  private readonly markerKey: string;

  constructor(options: RedisReadModelStoreOptions) {
    const tag = checkTag(options.tag);
    this.redis = options.redis;
    this.viewsKey = readModelKey(tag, options.name);
    this.checkpointKey = checkpointKey(tag, options.name);
    this.markerKey = rebuildMarkerKey(tag, options.name);
  }

  async get(key: string): Promise<V | undefined> {
    const json = await this.redis.hget(this.viewsKey, key);
    return json === null ? undefined : (JSON.parse(json) as ViewRecord<V>).value;
  }

  async load(keys: readonly string[]): Promise<Map<string, ViewRecord<V>>> {
    const found = new Map<string, ViewRecord<V>>();
    if (keys.length === 0) return found;
    const values = await this.redis.hmget(this.viewsKey, ...keys);
    keys.forEach((key, i) => {
      const json = values[i];
      if (json) found.set(key, JSON.parse(json) as ViewRecord<V>);
    });
    return found;
  }

  async all(): Promise<Map<string, V>> {
    const entries = Object.entries(await this.redis.hgetall(this.viewsKey));
    return new Map(entries.map(([key, json]) => [key, (JSON.parse(json) as ViewRecord<V>).value]));
  }

  async checkpoint(): Promise<string | undefined> {
    return (await this.redis.get(this.checkpointKey)) ?? undefined;
  }

  async commit(batch: ReadModelCommit<V>): Promise<boolean> {
    const args: string[] = [batch.expectedCheckpoint ?? "", batch.checkpoint];
    for (const [key, record] of batch.views) args.push(key, JSON.stringify(record));
    return (await COMMIT.run(this.redis, [this.viewsKey, this.checkpointKey], args)) === 1;
  }

  inlineWrites(views: ReadonlyMap<string, InlineView<V>>): InlineRedisWrite[] {
    if (views.size === 0) return [];
    const args = [...views].flatMap(([key, view]) => [key, viewRecordArg(view)]);
    return [{ command: "HSET", key: this.viewsKey, args }];
  }

  async clear(): Promise<void> {
    await this.redis.unlink(this.viewsKey, this.checkpointKey);
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
