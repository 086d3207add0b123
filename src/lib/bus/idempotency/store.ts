/** Outcome of trying to claim a message for processing. */
export type ClaimResult =
  | { status: "acquired"; token: string }
  /** Handled before: skip it. */
  | { status: "processed" }
  /** Another delivery holds an unexpired lease: try again later. */
  | { status: "in_progress" };

/**
 * Remembers which messages were handled. A claim is a lease (so a crashed handler's claim expires
 * and the message can be handled again); completion is permanent for `ttlMs`.
 */
export interface IdempotencyStore {
  claim(key: string, leaseMs: number): Promise<ClaimResult>;
  /** Marks the key done (kept for ttlMs). */
  complete(key: string, token: string, ttlMs: number): Promise<void>;
  /**
   * Extends a lease that is still ours to `leaseMs` from now, while its handler runs (a lease must
   * live as long as the work). False when it is not ours any more (expired and claimed again).
   */
  extend(key: string, token: string, leaseMs: number): Promise<boolean>;
  /** Gives the lease up after a failure, if it is still ours, so a retry can claim at once. */
  release(key: string, token: string): Promise<void>;
}
