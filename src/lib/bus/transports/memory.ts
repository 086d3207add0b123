/**
 * In-process transport with the delivery semantics of Redis Streams consumer groups: every group
 * gets every message of its topics, consumers of one group compete, a message stays pending until
 * settled, a pending message idle for longer than `claimIdleMs` is handed to another consumer with a
 * higher delivery count, and groups created before a message is published keep it for later
 * consumers. Leases live as long as the work: a message whose handler is still running (up to
 * `maxLeaseMs`) is never handed to another consumer, as the Streams transport renews its entries.
 * A run past `maxLeaseMs` is let go, as on Streams (break24 F2): its slot is freed and its message
 * runs again (a silent delivery), on another consumer if one is free, else on its own, so a handler
 * that hangs on every run is parked by the crash-loop backstop even with one consumer.
 * Attempts count recorded failures; deliveries without any outcome are counted apart (crash loops).
 * Consumers silent for `deadConsumerMs` with nothing pending leave their group.
 * It is the embedded default, so one process behaves like the distributed system.
 * Nothing survives the process: that is the one difference from Streams.
 */
import type { DeadLetterStore } from "../../dlq/dead-letter-store.js";
import type {
  AttemptFailure,
  ConsumerInfo,
  DeadLetterRequest,
  Delivery,
  DeliveryHandler,
  OutgoingMessage,
  SubscribeOptions,
  TopicRef,
  Transport,
  TransportSubscription,
} from "../transport.js";
import { MAX_HUNG_RUNS_LET_GO, type Replay, REPLAY_DEDUPE_MS } from "../transport.js";
import { parkDeadLetter } from "./dead-letter-record.js";
import {
  type Consumer,
  type Entry,
  type GroupState,
  newPending,
  type Pending,
  pendingKey,
  type Run,
  type TopicLog,
} from "./memory-state.js";
import { withinMs } from "./redis-streams-support.js";

export interface MemoryTransportOptions {
  deadLetters: DeadLetterStore;
  /** Idle time after which another consumer may take a pending message over (default 5 s). */
  claimIdleMs?: number;
  /**
   * Longest time a running handler keeps its message (default 10 min): past it the handler is taken
   * for hung and let go (see `letGo`): its slot is freed and its message may run again.
   */
  maxLeaseMs?: number;
  /** Most hung runs one consumer lets go at once (default MAX_HUNG_RUNS_LET_GO; see `letGo`). */
  maxHungRunsLetGo?: number;
  /** A consumer that has nothing pending and has been stopped this long leaves its group (default 1 h). */
  deadConsumerMs?: number;
  /** How often pending messages are checked for takeover (default claimIdleMs / 2). */
  claimIntervalMs?: number;
  /** Messages kept for groups that do not exist yet, per topic (default 10,000). */
  retainWithoutGroups?: number;
  now?: () => number;
}

export class MemoryTransport implements Transport {
  readonly kind = "memory" as const;
  readonly durable = true;
  private readonly topics = new Map<string, TopicLog>();
  private readonly groups = new Map<string, GroupState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pumpScheduled = new Set<GroupState>();
  private readonly pumpTimers = new Set<GroupState>();
  /** Per group: replay id → when it was sent (ms), for `redeliverOnce`. */
  private readonly replaysSent = new Map<string, Map<string, number>>();
  private readonly claimTimer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly claimIdleMs: number;
  private readonly maxLeaseMs: number;
  private readonly deadConsumerMs: number;
  private seq = 0;
  private closed = false;

  constructor(private readonly options: MemoryTransportOptions) {
    this.now = options.now ?? Date.now;
    this.claimIdleMs = options.claimIdleMs ?? 5_000;
    this.maxLeaseMs = options.maxLeaseMs ?? 600_000;
    this.deadConsumerMs = options.deadConsumerMs ?? 3_600_000;
    this.claimTimer = setInterval(
      () => this.claimIdle(),
      options.claimIntervalMs ?? Math.max(10, this.claimIdleMs / 2),
    );
    this.claimTimer.unref();
  }

  async ensureGroups(group: string, topics: readonly TopicRef[]): Promise<void> {
    const state = this.group(group);
    for (const { topic } of topics)
      if (!state.cursors.has(topic)) state.cursors.set(topic, this.log(topic).base);
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new Error("transport closed");
    const touched = new Set<GroupState>();
    for (const message of messages) {
      const log = this.log(message.topic);
      log.entries.push({
        seq: this.seq++,
        topic: message.topic,
        owner: message.owner,
        body: message.body,
        at: this.now(),
      });
      for (const group of this.groups.values()) if (group.cursors.has(message.topic)) touched.add(group);
    }
    for (const group of touched) this.schedulePump(group);
    this.compact();
  }

  /** `redeliver` of each replay whose id this group was not sent within `REPLAY_DEDUPE_MS`. */
  async redeliverOnce(group: string, replays: readonly Replay[]): Promise<number> {
    const sent = this.replaysSent.get(group) ?? new Map<string, number>();
    this.replaysSent.set(group, sent);
    const now = this.now();
    for (const [id, at] of sent) if (at <= now - REPLAY_DEDUPE_MS) sent.delete(id);
    let count = 0;
    for (const { replayId, message } of replays) {
      if (sent.has(replayId)) continue;
      sent.set(replayId, now);
      await this.redeliver(group, message);
      count++;
    }
    return count;
  }

  async redeliver(group: string, message: OutgoingMessage): Promise<void> {
    const state = this.group(group);
    const entry: Entry = {
      seq: this.seq++,
      topic: message.topic,
      owner: message.owner,
      body: message.body,
      at: this.now(),
      replay: true,
    };
    const pending = newPending(entry, "");
    state.pending.set(pendingKey(entry.topic, entry.seq), pending);
    state.ready.push(pending);
    this.schedulePump(state);
  }

  async subscribe(options: SubscribeOptions, handler: DeliveryHandler): Promise<TransportSubscription> {
    await this.ensureGroups(options.group, options.topics);
    const state = this.group(options.group);
    const existing = state.consumers.find((c) => c.name === options.consumer);
    if (existing?.active)
      throw new Error(`consumer ${options.consumer} already subscribed in group ${options.group}`);
    const consumer: Consumer = {
      name: options.consumer,
      topics: new Set(options.topics.map((t) => t.topic)),
      handler,
      concurrency: options.concurrency ?? 16,
      inFlight: new Set(),
      hung: new Set(),
      active: true,
      lastSeen: this.now(),
      throttle: options.throttle,
    };
    state.consumers = [...state.consumers.filter((c) => c !== existing), consumer];
    // Like a restarted Streams consumer reading its own history: resume what it left pending.
    for (const pending of state.pending.values()) {
      if (pending.consumer === consumer.name && !pending.scheduled) state.ready.push(pending);
    }
    this.schedulePump(state);
    return { stop: ({ timeoutMs } = {}) => this.stopConsumer(consumer, timeoutMs) };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.claimTimer);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // As the Streams transport's close: every subscription stopped, one stopped before not waited for again.
    const consumers = [...this.groups.values()].flatMap((group) => group.consumers);
    await Promise.allSettled(consumers.map((consumer) => this.stopConsumer(consumer)));
  }

  /**
   * Stops a consumer once: a second stop (or `close`) waits for the first, as on Streams, not for a
   * handler that outlived its timeout (newuser21 F7: close() never returned behind a hung handler).
   * Hung runs are drained too, as the Streams transport drains them (bounded by `timeoutMs`).
   */
  private stopConsumer(consumer: Consumer, timeoutMs?: number): Promise<void> {
    return (consumer.stopping ??= (async () => {
      consumer.active = false;
      const drained = (async () => {
        while (consumer.inFlight.size + consumer.hung.size > 0)
          await Promise.allSettled([...consumer.inFlight, ...consumer.hung]);
      })();
      await withinMs(drained, timeoutMs);
      consumer.lastSeen = this.now();
    })());
  }

  private group(name: string): GroupState {
    let state = this.groups.get(name);
    if (!state) {
      state = { name, cursors: new Map(), pending: new Map(), ready: [], consumers: [], nextConsumer: 0 };
      this.groups.set(name, state);
    }
    return state;
  }

  private log(topic: string): TopicLog {
    let log = this.topics.get(topic);
    if (!log) {
      log = { entries: [], base: 0 };
      this.topics.set(topic, log);
    }
    return log;
  }

  private schedulePump(group: GroupState): void {
    if (this.pumpScheduled.has(group)) return;
    this.pumpScheduled.add(group);
    setImmediate(() => {
      this.pumpScheduled.delete(group);
      this.pump(group);
    });
  }

  /** Hands out ready (redelivered) messages first, then new entries, while consumers have room. */
  private pump(group: GroupState): void {
    if (this.closed) return;
    const waiting: Pending[] = [];
    for (const pending of group.ready) {
      if (!group.pending.has(pendingKey(pending.entry.topic, pending.entry.seq))) continue;
      // A hung handler's message goes to another consumer if one is free; back to the one still
      // running it only once that run was let go (its slot freed: see letGo), never while it holds it.
      const topic = pending.entry.replay ? undefined : pending.entry.topic;
      const stuck = pending.handlingSince === undefined ? undefined : pending.consumer;
      let consumer = this.freeConsumer(group, topic, stuck);
      if (!consumer && stuck !== undefined && pending.run?.letGo) consumer = this.freeConsumer(group, topic);
      if (consumer) this.deliver(group, consumer, pending);
      else waiting.push(pending);
    }
    group.ready = waiting;
    for (const [topic, cursor] of group.cursors) {
      const log = this.log(topic);
      let next = cursor;
      while (next < log.base + log.entries.length) {
        const consumer = this.freeConsumer(group, topic, undefined, true);
        if (!consumer) break;
        consumer.throttle?.tryTake(1);
        const entry = log.entries[next - log.base]!;
        next++;
        const pending = newPending(entry, consumer.name);
        group.pending.set(pendingKey(topic, entry.seq), pending);
        this.deliver(group, consumer, pending);
      }
      group.cursors.set(topic, next);
    }
  }

  /** A consumer with a free slot that reads `topic` (any consumer of the group for a replay). */
  private freeConsumer(
    group: GroupState,
    topic: string | undefined,
    avoid?: string,
    throttled = false,
  ): Consumer | undefined {
    const count = group.consumers.length;
    let waitMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      const consumer = group.consumers[(group.nextConsumer + i) % count]!;
      const reads = (topic === undefined || consumer.topics.has(topic)) && consumer.name !== avoid;
      if (!consumer.active || !reads || consumer.inFlight.size >= consumer.concurrency) continue;
      const wait = throttled ? (consumer.throttle?.waitMs() ?? 0) : 0;
      if (wait > 0) {
        waitMs = Math.min(waitMs, wait);
        continue;
      }
      group.nextConsumer = (group.nextConsumer + i + 1) % count;
      return consumer;
    }
    // Every free consumer is over its rate: look again when the first one has room.
    if (waitMs !== Number.POSITIVE_INFINITY) this.pumpLater(group, waitMs);
    return undefined;
  }

  /** One pending wake-up per group at most. */
  private pumpLater(group: GroupState, delayMs: number): void {
    if (this.pumpTimers.has(group)) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.pumpTimers.delete(group);
      this.schedulePump(group);
    }, delayMs);
    this.timers.add(timer);
    this.pumpTimers.add(group);
  }

  private deliver(group: GroupState, consumer: Consumer, pending: Pending): void {
    pending.consumer = consumer.name;
    pending.deliveryCount++;
    pending.deliveredAt = this.now();
    pending.firstDeliveredAt ??= pending.deliveredAt;
    pending.scheduled = false;
    pending.handlingSince = pending.deliveredAt;
    const deliveredCount = pending.deliveryCount;
    const run: Run = { consumer, done: Promise.resolve(), letGo: false };
    pending.run = run;
    // Let go as hung and its message delivered again since: what it settles late is stale.
    const superseded = () => run.letGo && pending.deliveryCount !== deliveredCount;
    const delivery = this.delivery(group, pending, superseded);
    run.done = (async () => {
      try {
        await consumer.handler(delivery);
      } catch {
        // An unsettled delivery stays pending and is taken over after claimIdleMs, as on Streams.
      }
    })();
    consumer.inFlight.add(run.done);
    void run.done.finally(() => {
      // Let go as hung, it holds no slot any more (see letGo).
      consumer.inFlight.delete(run.done);
      consumer.hung.delete(run.done);
      // The lease ends with the handler; an unsettled message now idles towards a takeover.
      if (pending.deliveryCount === deliveredCount) {
        pending.handlingSince = undefined;
        pending.run = undefined;
        pending.deliveredAt = this.now();
      }
      this.schedulePump(group);
    });
  }

  /**
   * Lets a run given up as hung (past maxLeaseMs) go, as the Streams dispatcher does (break24 F2):
   * its slot is freed and its message may run again on its own consumer too (pump). Kept, a hung run
   * held its slot and its message never came back to its consumer: with one consumer (the embedded
   * system runs one per group) it waited for ever, and a consumer whose slots all held hung runs
   * handled nothing more. At most `maxHungRunsLetGo` per consumer: past it a hung run keeps both
   * (another consumer may still take its message). Returns whether a slot was freed.
   */
  private letGo(pending: Pending): boolean {
    const run = pending.run;
    if (!run || run.letGo) return false;
    const max = this.options.maxHungRunsLetGo ?? MAX_HUNG_RUNS_LET_GO;
    if (run.consumer.hung.size >= max) return false;
    run.letGo = true;
    run.consumer.inFlight.delete(run.done);
    run.consumer.hung.add(run.done);
    return true;
  }

  /**
   * The delivery handed to one run of `pending`. `superseded`: whether that run was let go as hung
   * and its message delivered again since (see letGo); then whatever it settles but a success is
   * dropped, as on Streams: a retry, a defer or a dead letter of the old run would count against
   * (or settle) the newer run's delivery. Its ack still acknowledges the message.
   */
  private delivery(group: GroupState, pending: Pending, superseded: () => boolean): Delivery {
    const key = pendingKey(pending.entry.topic, pending.entry.seq);
    const attempt = pending.failures.length + 1;
    const waitedAttempts = pending.failures.filter((f) => f.waited === true).length;
    // Every earlier run without an outcome (the backstop's count), and of them those not given up
    // as hung: the crash count (a hang is no crash: break27 F1 parked a slow handler as one).
    const silentStartedRuns = Math.max(0, pending.deliveryCount - attempt - pending.deferrals);
    const silentDeliveries = Math.max(0, silentStartedRuns - pending.hungRuns);
    let settled = false;
    const settleOnce = () => {
      if (settled || superseded()) return false;
      settled = true;
      return true;
    };
    return {
      deliveryId: String(pending.entry.seq),
      topic: pending.entry.topic,
      owner: pending.entry.owner,
      body: pending.entry.body,
      attempt,
      waitedAttempts,
      silentDeliveries,
      silentStartedRuns,
      hungRuns: pending.hungRuns,
      deliveryCount: pending.deliveryCount,
      replay: pending.entry.replay === true,
      enqueuedAt: pending.entry.at,
      firstDeliveredAt: pending.firstDeliveredAt,
      ageMs: () => Math.max(0, this.now() - pending.entry.at),
      now: () => this.now(),
      // A success counts even from a run let go as hung (its work is done, as on Streams: break26
      // F1); the newer run's own outcome then finds nothing pending and settles nothing.
      ack: async () => {
        if (settled) return;
        settled = true;
        group.pending.delete(key);
      },
      retry: async (failure: AttemptFailure, delayMs: number) => {
        if (!settleOnce() || !group.pending.has(key)) return;
        pending.failures.push(failure);
        this.later(group, pending, delayMs);
      },
      defer: async (delayMs: number) => {
        if (!settleOnce() || !group.pending.has(key)) return;
        pending.deferrals++;
        this.later(group, pending, delayMs);
      },
      deadLetter: async (request: DeadLetterRequest) => {
        if (!settleOnce() || !group.pending.has(key)) return;
        await parkDeadLetter(
          this.options.deadLetters,
          {
            group: group.name,
            topic: pending.entry.topic,
            owner: pending.entry.owner,
            deliveryId: String(pending.entry.seq),
            body: pending.entry.body,
            earlierFailures: pending.failures,
            request,
          },
          pending.consumer,
        );
        group.pending.delete(key);
      },
    };
  }

  /** Delivers `pending` again after `delayMs` (to any consumer of the group). */
  private later(group: GroupState, pending: Pending, delayMs: number): void {
    const key = pendingKey(pending.entry.topic, pending.entry.seq);
    pending.scheduled = true;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!group.pending.has(key)) return;
      group.ready.push(pending);
      this.schedulePump(group);
    }, delayMs);
    this.timers.add(timer);
  }

  async consumers(group: string): Promise<ConsumerInfo[]> {
    const state = this.groups.get(group);
    if (!state) return [];
    const now = this.now();
    return state.consumers.map((c) => ({
      name: c.name,
      pending: [...state.pending.values()].filter((p) => p.consumer === c.name).length,
      idleMs: c.active ? 0 : now - c.lastSeen,
    }));
  }

  /**
   * Takeover of messages whose consumer went quiet (what XAUTOCLAIM does for Streams): neither
   * handled now (the lease, up to maxLeaseMs; a run past it is let go: see letGo) nor waiting for a
   * retry. Also removes consumers that stopped `deadConsumerMs` ago and own nothing.
   */
  private claimIdle(): void {
    const now = this.now();
    for (const group of this.groups.values()) {
      let claimed = false;
      for (const pending of group.pending.values()) {
        if (pending.scheduled || pending.deliveryCount === 0 || group.ready.includes(pending)) continue;
        if (pending.handlingSince !== undefined) {
          if (now - pending.handlingSince < this.maxLeaseMs) continue;
          // Hung: counted (a silence that is no crash), and let go (its slot freed), so its own
          // consumer may run it again (pump).
          if (pending.run && !pending.run.givenUp) {
            pending.run.givenUp = true;
            pending.hungRuns++;
          }
          if (this.letGo(pending)) {
            // As on Streams, it goes idle when its lease ends: taken again claimIdleMs later, and
            // meanwhile the freed slot takes new work.
            pending.deliveredAt = now;
            claimed = true;
          }
        }
        if (now - pending.deliveredAt < this.claimIdleMs) continue;
        pending.deliveredAt = now;
        group.ready.push(pending);
        claimed = true;
      }
      if (claimed) this.schedulePump(group);
      if (!group.consumers.some((c) => !c.active && now - c.lastSeen >= this.deadConsumerMs)) continue;
      const kept = group.consumers.filter(
        (c) =>
          c.active ||
          now - c.lastSeen < this.deadConsumerMs ||
          [...group.pending.values()].some((p) => p.consumer === c.name),
      );
      if (kept.length < group.consumers.length) {
        group.consumers = kept;
        group.nextConsumer = 0;
      }
    }
  }

  /** Drops log entries every group has read past (pending ones are held by their Pending record). */
  private compact(): void {
    const retain = this.options.retainWithoutGroups ?? 10_000;
    for (const [topic, log] of this.topics) {
      let min = Number.POSITIVE_INFINITY;
      for (const group of this.groups.values()) {
        const cursor = group.cursors.get(topic);
        if (cursor !== undefined) min = Math.min(min, cursor);
      }
      const end = log.base + log.entries.length;
      const keepFrom = min === Number.POSITIVE_INFINITY ? end - retain : min;
      const drop = keepFrom - log.base;
      if (drop > 1024 || (drop > 0 && drop * 2 > log.entries.length)) {
        log.entries.splice(0, drop);
        log.base += drop;
      }
    }
  }
}
