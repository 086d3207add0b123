/**
 * Optional retention of the order views of orders that ended long ago (`ORDER_VIEW_RETENTION_MS`,
 * default: keep). The event stream stays (the system of record), and the list index: `GET /orders`
 * and `GET /orders/:id` fold an order's stream when its view is gone.
 *
 * A view is dropped only when its order can no longer change: a final status (delivered, failed,
 * cancelled; a shipped order still gets its delivery) and last updated longer ago than the
 * retention, which is at least the marker lifetime, after which no message of the order comes back.
 * The walk is an incremental HSCAN (`batch` fields per pass), so each pass costs the same however
 * many views there are; a delete is compare-and-delete, so a view the projection just changed stays.
 */
import type { Redis } from "ioredis";
import type { ViewRecord } from "../../lib/eventstore/read-model-store.js";
import { LuaScript } from "../../lib/redis/index.js";
import type { OrderView } from "./projections.js";

const FINAL = new Set(["delivered", "failed", "cancelled"]);

/** KEYS: views hash. ARGV: field, JSON it must still hold, ... Returns the number deleted. */
const DROP_UNCHANGED = new LuaScript(`
local dropped = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    dropped = dropped + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return dropped
`);

export interface ViewRetentionOptions {
  redis: Redis;
  /** The views hash (`readModelKey(ORDER_TAG, orderViewProjection.name)`). */
  key: string;
  /** Age (ms, since the view's last update) past which a final order's view is dropped. */
  retentionMs: number;
  now: () => number;
  /** Fields looked at per pass (default 500). */
  batch?: number;
}

export class ViewRetention {
  private cursor = "0";

  constructor(private readonly options: ViewRetentionOptions) {}

  /** One step of the walk; returns the views dropped. The walk wraps around at the end. */
  async pass(): Promise<number> {
    const { redis, key, retentionMs } = this.options;
    const [next, flat] = await redis.hscan(key, this.cursor, "COUNT", this.options.batch ?? 500);
    this.cursor = next;
    const cutoff = this.options.now() - retentionMs;
    const args: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const json = flat[i + 1]!;
      const view = (JSON.parse(json) as ViewRecord<OrderView>).value;
      if (FINAL.has(view.status) && Date.parse(view.updatedAt) < cutoff) args.push(flat[i]!, json);
    }
    if (args.length === 0) return 0;
    return Number(await DROP_UNCHANGED.run(redis, [key], args));
  }

  /** Passes until the walk is back at its start; returns the views dropped (tests, admin). */
  async sweep(): Promise<number> {
    let dropped = await this.pass();
    while (this.cursor !== "0") dropped += await this.pass();
    return dropped;
  }
}
