/**
 * Redis key names of the Streams transport, in one place. Every stream of an event lives in its
 * owning service's hash slot (`{owner}`), so the owner's state changes and the events they emit can
 * be written in one MULTI/EXEC or Lua script, also on Redis Cluster (the outbox, done natively).
 */
import type { OutgoingMessage } from "../transport.js";

/** Stream of one event: `{owner}:ev:<event name>`. */
export const eventStreamKey = (owner: string, topic: string): string => `{${owner}}:ev:${topic}`;

/** Per-group stream for manual replay (DLQ retry) to that group only: `{group}:redeliver`. */
export const redeliverStreamKey = (group: string): string => `{${group}}:redeliver`;

/** Field names of a stream entry: `b` the encoded envelope; redelivered entries add topic and owner. */
export const FIELD_BODY = "b";
export const FIELD_TOPIC = "t";
export const FIELD_OWNER = "o";

/**
 * The arguments to XADD one message to its event stream after the key and id:
 * `XADD <key> <id> ...eventStreamFields(msg)`. Used by the transport and by stores that append
 * events atomically with their own writes.
 */
export const eventStreamFields = (message: OutgoingMessage): [string, string] => [FIELD_BODY, message.body];
