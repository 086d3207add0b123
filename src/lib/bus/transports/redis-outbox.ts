/**
 * The outbox, done natively: a store's Lua script writes its state and XADDs the events it causes
 * in one atomic step. This is the store-facing side of the stream layout in `redis-stream-keys.ts`:
 * the Lua prelude that appends the messages, and the KEYS/ARGV it expects.
 */
import type { OutgoingMessage } from "../transport.js";
import { eventStreamKey, FIELD_BODY } from "./redis-stream-keys.js";

/**
 * Lua prelude defining, for a store's script:
 * - `outbox(k0, a0, n)`: XADDs one entry to each stream KEYS[k0..#KEYS], with the bodies ARGV[a0],
 *   ARGV[a0 + 1], ... in the same order. So a script puts its stream keys last in KEYS and the bodies
 *   last in ARGV, as `outboxArgs` returns them. With `n`, only the `n` streams from KEYS[k0] (a script
 *   that emits per item, each item's streams among its keys). It runs `outbox_check` first (unless the
 *   script already checked the same streams), so a stream it cannot write fails it before its first XADD.
 * - `outbox_check(k0, n)`: raises, writing nothing, unless this Redis user may XADD to every such
 *   stream (and, when it may run TYPE, each is a stream or no key).
 * - `outbox_allowed(command, ...)`: raises NOPERM, writing nothing, unless this Redis user may run
 *   `command` with these arguments (`redis.acl_check_cmd`: command and key permissions).
 *
 * Redis does not undo a script's earlier writes when a later command fails (NOPERM for a command the
 * ACL user lacks, WRONGTYPE). So a script does every check that can fail before its first write, and
 * writes its dedupe mark last: a failure then leaves nothing written and the message retryable,
 * never a mark without its effect and event (newuser17 F1). The shape:
 *
 *     if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end   -- done before: nothing to do
 *     outbox_allowed('INCRBY', KEYS[2], ARGV[1])                 -- every check...
 *     outbox_check(3)
 *     redis.call('INCRBY', KEYS[2], ARGV[1])                     -- ...then the writes: the state,
 *     outbox(3, 3)                                               -- the events,
 *     redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])             -- and the mark last
 */
export const OUTBOX_LUA = `
local function outbox_allowed(command, ...)
  if not redis.acl_check_cmd(command, ...) then
    error({ err = 'NOPERM this Redis user may not run ' .. string.upper(command) .. ' on these keys (nothing was written)' })
  end
end
-- The streams a script checked already (outbox_check before its first write): outbox() then does
-- not ask again (an ACL check and a TYPE per stream per write, twice).
local outbox_checked = nil
local function outbox_check(k0, n)
  outbox_checked = k0 .. ':' .. tostring(n)
  for i = 0, (n or #KEYS - k0 + 1) - 1 do
    local key = KEYS[k0 + i]
    outbox_allowed('XADD', key, '*', '${FIELD_BODY}', 'x')
    -- TYPE only where the user may run it: service users of earlier releases may not (not in SERVICE_BASE).
    if redis.acl_check_cmd('TYPE', key) then
      local kind = redis.call('TYPE', key)['ok']
      if kind ~= 'none' and kind ~= 'stream' then
        error({ err = 'WRONGTYPE ' .. key .. ' is a ' .. kind .. ', not a stream (nothing was written)' })
      end
    end
  end
end
local function outbox(k0, a0, n)
  if outbox_checked ~= k0 .. ':' .. tostring(n) then outbox_check(k0, n) end
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
