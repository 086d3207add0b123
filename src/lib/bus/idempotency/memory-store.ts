import { randomUUID } from "node:crypto";
import type { ClaimResult, IdempotencyStore } from "./store.js";
import { monotonicNow } from "../../resilience/monotonic.js";

interface Mark {
  state: "pending" | "done";
  token: string;
  expiresAt: number;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly marks = new Map<string, Mark>();
  private readonly now: () => number;
  private sweepCounter = 0;

  /** `now`: ms on a monotonic source (default `monotonicNow`): marks' leases and TTLs are local
   * durations in this process, which a wall-clock step must not end early (break22). */
  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? monotonicNow;
  }

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const now = this.now();
    if (++this.sweepCounter % 1024 === 0) this.sweep(now);
    const mark = this.marks.get(key);
    if (mark && mark.expiresAt > now)
      return mark.state === "done" ? { status: "processed" } : { status: "in_progress" };
    const token = randomUUID();
    this.marks.set(key, { state: "pending", token, expiresAt: now + leaseMs });
    return { status: "acquired", token };
  }

  async complete(key: string, token: string, ttlMs: number): Promise<void> {
    this.marks.set(key, { state: "done", token, expiresAt: this.now() + ttlMs });
  }

  async extend(key: string, token: string, leaseMs: number): Promise<boolean> {
    const now = this.now();
    const mark = this.marks.get(key);
    if (mark?.state !== "pending" || mark.token !== token || mark.expiresAt <= now) return false;
    mark.expiresAt = now + leaseMs;
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    const mark = this.marks.get(key);
    if (mark?.state === "pending" && mark.token === token) this.marks.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, mark] of this.marks) if (mark.expiresAt <= now) this.marks.delete(key);
  }
}
