/**
 * The payment state port and its in-memory adapter. Every write carries the events it causes, and
 * both happen in one atomic step (the outbox): in Redis one Lua script, in memory a map update and
 * the transport publish with no `await` between them.
 */
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { PaymentRecord, PaymentStatus } from "./domain.js";
import { PAYMENT_OWNER } from "./keys.js";

export interface PaymentStore {
  get(orderId: string): Promise<PaymentRecord | undefined>;
  /** Whether a transient failure of this (order, attempt) was already reported. */
  attemptReported(orderId: string, attempt: number): Promise<boolean>;
  /**
   * If the order's current status is `expected` (null: no record yet), writes `record` and emits
   * `messages`, atomically. False (and nothing written or emitted) when the status moved on.
   */
  commit(
    record: PaymentRecord,
    expected: PaymentStatus | null,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean>;
  /** Marks (order, attempt) as reported and emits `messages`, atomically and once. */
  reportAttemptFailure(
    orderId: string,
    attempt: number,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean>;
}

/** A store writes only its own service's streams (they share its hash slot). */
export function assertOwnMessages(messages: readonly OutgoingMessage[]): void {
  for (const m of messages) {
    if (m.owner !== PAYMENT_OWNER)
      throw new Error(`payment store cannot emit ${m.topic} (owned by ${m.owner})`);
  }
}

export type PublishFn = (messages: readonly OutgoingMessage[]) => Promise<void>;

export class MemoryPaymentStore implements PaymentStore {
  private readonly records = new Map<string, PaymentRecord>();
  private readonly reported = new Set<string>();

  constructor(private readonly publish: PublishFn) {}

  async get(orderId: string): Promise<PaymentRecord | undefined> {
    const record = this.records.get(orderId);
    return record ? { ...record } : undefined;
  }

  async attemptReported(orderId: string, attempt: number): Promise<boolean> {
    return this.reported.has(`${orderId}:${attempt}`);
  }

  async commit(
    record: PaymentRecord,
    expected: PaymentStatus | null,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean> {
    assertOwnMessages(messages);
    if ((this.records.get(record.orderId)?.status ?? null) !== expected) return false;
    this.records.set(record.orderId, { ...record });
    await this.emit(messages);
    return true;
  }

  async reportAttemptFailure(
    orderId: string,
    attempt: number,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean> {
    assertOwnMessages(messages);
    const key = `${orderId}:${attempt}`;
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    await this.emit(messages);
    return true;
  }

  private emit(messages: readonly OutgoingMessage[]): Promise<void> {
    return messages.length === 0 ? Promise.resolve() : this.publish(messages);
  }
}
