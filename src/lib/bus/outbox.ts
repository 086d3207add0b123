import { BusError } from "./errors.js";
import type { OutgoingMessage } from "./transport.js";

/**
 * A store writes its own service's events only: their streams live in its hash slot (the atomic
 * outbox write stays legal on a cluster), and another service's event from it would be a bug.
 */
export function assertOwnMessages(owner: string, messages: readonly OutgoingMessage[]): void {
  for (const m of messages) {
    if (m.owner !== owner) {
      throw new BusError(
        "FOREIGN_EVENT",
        `the ${owner} store cannot emit "${m.topic}" owned by "${m.owner}"`,
      );
    }
  }
}
