/**
 * The order list index: order ids by creation time, overall and per user, so `GET /orders` reads
 * O(limit) entries whatever the number of orders ever placed. It is a checkpointed projection of the
 * event log (only `order.event.created` is indexed: an order's place in the list never changes), so
 * it survives crashes and can be rebuilt. Pages are cut with an opaque cursor: the last entry of the
 * page (creation time, order id), exclusive. Redis adapter: `order-list-redis.ts`.
 */
import {
  type InlineTarget,
  MemoryRebuildMarker,
  type ReadModelCommit,
  type ReadModelStore,
  type ViewRecord,
} from "../../lib/eventstore/index.js";
import { type OrderProjection, orderProjection } from "./events.js";
import { orderIdOfStream } from "./keys.js";

export interface OrderListEntry {
  userId: string;
  /** Creation time, ms since the epoch (the order's `placedAt`). */
  createdAtMs: number;
}

export interface OrderListQuery {
  userId?: string | undefined;
  /** Entries per page (1-500). */
  limit: number;
  /** `nextCursor` of the previous page; absent for the first (newest) page. */
  cursor?: string | undefined;
}

export interface OrderListPage {
  /** Order ids, newest first. */
  ids: string[];
  /** Present when more entries follow. */
  nextCursor?: string;
}

export interface OrderListIndex extends ReadModelStore<OrderListEntry>, InlineTarget<OrderListEntry> {
  page(query: OrderListQuery): Promise<OrderListPage>;
}

export const orderListProjection: OrderProjection<OrderListEntry> = orderProjection({
  name: "order-list-v1",
  keyOf: (event) => (event.type === "order.event.created" ? orderIdOfStream(event.streamId) : undefined),
  applyEvent: (view, event) => {
    if (event?.type !== "order.event.created") return view ?? { userId: "", createdAtMs: 0 };
    return { userId: event.data.userId, createdAtMs: Date.parse(event.data.placedAt) };
  },
});

/**
 * The sort key of an entry: zero-padded creation ms, then the order id. Lexicographic order is
 * creation order (ties broken by id), which Redis sorted sets give with `ZREVRANGEBYLEX`.
 */
export const listMember = (orderId: string, createdAtMs: number): string =>
  `${String(Math.max(0, Math.trunc(createdAtMs))).padStart(15, "0")}:${orderId}`;

export const orderIdOfMember = (member: string): string => member.slice(member.indexOf(":") + 1);

const MEMBER = /^\d{15}:[\x21-\x7e]{1,200}$/;

export const encodeCursor = (member: string): string => Buffer.from(member).toString("base64url");

/** The member a cursor stands for, or undefined when it is not one this API issued. */
export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return undefined;
  const member = Buffer.from(cursor, "base64url").toString("utf8");
  return MEMBER.test(member) ? member : undefined;
}

/** In process memory: sorted arrays kept in order by binary insertion. */
export class MemoryOrderListIndex implements OrderListIndex {
  private records = new Map<string, ViewRecord<OrderListEntry>>();
  private lists = new Map<string, string[]>();
  private position: string | undefined;
  private readonly marker = new MemoryRebuildMarker();

  async page(query: OrderListQuery): Promise<OrderListPage> {
    const list = this.lists.get(listName(query.userId)) ?? [];
    // Newest first: walk down from the end, below the cursor's member when there is one.
    let end = list.length;
    if (query.cursor !== undefined) {
      const member = decodeCursor(query.cursor);
      end = member === undefined ? 0 : lowerBound(list, member);
    }
    const start = Math.max(0, end - query.limit);
    const members = list.slice(start, end).reverse();
    const ids = members.map(orderIdOfMember);
    const last = members.at(-1);
    return start > 0 && last !== undefined ? { ids, nextCursor: encodeCursor(last) } : { ids };
  }

  async get(key: string): Promise<OrderListEntry | undefined> {
    return this.records.get(key)?.value;
  }

  async load(keys: readonly string[]): Promise<Map<string, ViewRecord<OrderListEntry>>> {
    const found = new Map<string, ViewRecord<OrderListEntry>>();
    for (const key of keys) {
      const record = this.records.get(key);
      if (record) found.set(key, record);
    }
    return found;
  }

  async all(): Promise<Map<string, OrderListEntry>> {
    return new Map([...this.records].map(([id, record]) => [id, record.value]));
  }

  async checkpoint(): Promise<string | undefined> {
    return this.position;
  }

  async commit(batch: ReadModelCommit<OrderListEntry>): Promise<boolean> {
    if (batch.expectedCheckpoint !== this.position) return false;
    this.applyInline(batch.views);
    this.position = batch.checkpoint;
    return true;
  }

  applyInline(views: ReadonlyMap<string, ViewRecord<OrderListEntry>>): void {
    for (const [id, record] of views) {
      if (!this.records.has(id)) {
        const member = listMember(id, record.value.createdAtMs);
        insertSorted(this.listOf(listName(undefined)), member);
        insertSorted(this.listOf(listName(record.value.userId)), member);
      }
      this.records.set(id, record);
    }
  }

  async clear(): Promise<void> {
    this.records = new Map();
    this.lists = new Map();
    this.position = undefined;
  }

  async rebuildMarker(): Promise<string | undefined> {
    return this.marker.get();
  }

  async markRebuild(id: string): Promise<void> {
    this.marker.set(id);
  }

  async unmarkRebuild(id: string, checkpoint: string | undefined): Promise<boolean> {
    return this.marker.remove(id, checkpoint, this.position);
  }

  private listOf(name: string): string[] {
    let list = this.lists.get(name);
    if (!list) this.lists.set(name, (list = []));
    return list;
  }
}

const listName = (userId: string | undefined) => (userId === undefined ? "*" : `user:${userId}`);

/** First index whose member is >= `member`. */
function lowerBound(list: readonly string[], member: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] ?? "") < member) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(list: string[], member: string): void {
  const at = lowerBound(list, member);
  if (list[at] !== member) list.splice(at, 0, member);
}
