/**
 * The state of the in-memory transport: topic logs, consumer groups, their consumers and pending
 * messages (what a Redis stream and its consumer groups keep).
 */
import type { AttemptFailure, DeliveryHandler, ReadThrottle } from "../transport.js";

export interface Entry {
  seq: number;
  topic: string;
  owner: string;
  body: string;
  /** Publish (or replay) time, ms. */
  at: number;
  /** A manual replay to one group: any consumer of the group takes it, whatever its topics. */
  replay?: boolean;
}

export interface Pending {
  entry: Entry;
  consumer: string;
  deliveryCount: number;
  deliveredAt: number;
  /** When the entry was first handed to a consumer of the group (ms), undefined before. */
  firstDeliveredAt?: number;
  failures: AttemptFailure[];
  /** Deliveries settled with `defer` (an outcome, but not a failed attempt). */
  deferrals: number;
  /**
   * Runs given up as hung (their handler ran maxLeaseMs): silent, but known not to be crashes, as
   * the Streams transport records them (break26 F2, break27 F1): Delivery.hungRuns.
   */
  hungRuns: number;
  /** Waiting for a retry timer: not claimable, not in flight. */
  scheduled: boolean;
  /** When the running handler started (ms), undefined when no handler runs it: the lease. */
  handlingSince: number | undefined;
  /** The run of its latest delivery while its handler runs (set with `handlingSince`). */
  run: Run | undefined;
}

/** One handler run of a pending message, from its delivery to its handler's return. */
export interface Run {
  consumer: Consumer;
  /** The handler's run: in the consumer's `inFlight` (a slot), or in `hung` once let go. */
  done: Promise<void>;
  /**
   * Given up as hung (maxLeaseMs) and let go (break24 F2): it holds no slot and its message may run
   * again, on its own consumer too; once it has, whatever this run settles late is dropped.
   */
  letGo: boolean;
  /** Given up as hung (ran maxLeaseMs), let go or not: counted once in its Pending's `hungRuns`. */
  givenUp?: boolean;
}

export interface Consumer {
  name: string;
  topics: Set<string>;
  handler: DeliveryHandler;
  concurrency: number;
  inFlight: Set<Promise<void>>;
  /** Runs given up as hung and let go: they run on (a handler cannot be stopped) but hold no slot. */
  hung: Set<Promise<void>>;
  active: boolean;
  /** Its stop, once begun (MemoryTransport.stopConsumer): later stops and `close` wait for it, not for its handlers again. */
  stopping?: Promise<void>;
  /** Last time the consumer was active (ms): set on stop. */
  lastSeen: number;
  /** Read-side backpressure: new entries are handed to this consumer only as it grants. */
  throttle: ReadThrottle | undefined;
}

export interface GroupState {
  name: string;
  /** Next entry index (into the topic log) to hand out, per topic. */
  cursors: Map<string, number>;
  pending: Map<string, Pending>;
  /** Retries and takeovers due now, delivered before new entries. */
  ready: Pending[];
  consumers: Consumer[];
  nextConsumer: number;
}

export interface TopicLog {
  /** entries[i] has seq = base + i. */
  entries: Entry[];
  base: number;
}

export const pendingKey = (topic: string, seq: number) => `${topic}#${seq}`;

export const newPending = (entry: Entry, consumer: string): Pending => ({
  entry,
  consumer,
  deliveryCount: 0,
  deliveredAt: 0,
  failures: [],
  deferrals: 0,
  hungRuns: 0,
  scheduled: false,
  handlingSince: undefined,
  run: undefined,
});
