/**
 * The outbox, done natively: a store's Lua script writes its state and XADDs the events it causes
 * in one atomic step. This is the store-facing side of the stream layout in `redis-stream-keys.ts`:
 * the Lua prelude that appends the messages, and the KEYS/ARGV it expects.
 */
import type { OutgoingMessage } from "../transport.js";
import { eventStreamKey, FIELD_BODY } from "./redis-stream-keys.js";

/**
 * Lua prelude defining `outbox(k0, a0, n)`: XADDs one entry to each stream KEYS[k0..#KEYS], with
 * the bodies ARGV[a0], ARGV[a0 + 1], ... in the same order. So a script puts its stream keys last in
 * KEYS and the bodies last in ARGV, as `outboxArgs` returns them. With `n`, only the `n` streams
 * from KEYS[k0] (a script that emits per item, each item's streams among its keys).
 */
export const OUTBOX_LUA = `
local function outbox(k0, a0, n)
  for i = 0, (n or #KEYS - k0 + 1) - 1 do
    redis.call('XADD', KEYS[k0 + i], '*', '${FIELD_BODY}', ARGV[a0 + i])
  end
end
`;

export interface OutboxArgs {
  /** One stream key per message, to append to a script's KEYS. */
  readonly keys: string[];
  /** One encoded envelope per message, to append to a script's ARGV. */
  readonly bodies: string[];
}

/**
 * The KEYS and ARGV tails of the messages a script appends with `outbox(k0, a0)`. `streamKey`
 * defaults to the event's stream in its owner's slot; a store passes its own to refuse messages of
 * other owners, which a single script could not write on a cluster.
 */
export function outboxArgs(
  messages: readonly OutgoingMessage[],
  streamKey: (message: OutgoingMessage) => string = (m) => eventStreamKey(m.owner, m.topic),
): OutboxArgs {
  return { keys: messages.map(streamKey), bodies: messages.map((m) => m.body) };
}
