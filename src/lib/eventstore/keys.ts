/**
 * Every Redis key of the event store and its read models. All keys of one store share the hash tag
 * `{tag}` (e.g. `{order}`), the same slot as the owner's bus event streams (`{order}:ev:<event>`),
 * so an append, its global log entry and its outbox messages form one legal Lua script on a cluster.
 */
import { EventStoreError } from "./errors.js";

/** Guards against a tag that would change the slot (`{` or `}` inside) or be empty. */
export function checkTag(tag: string): string {
  if (!/^[^{}]+$/.test(tag)) throw new EventStoreError("INVALID_TAG", `invalid hash tag "${tag}"`);
  return tag;
}

/** One stream's events (a list, index = version - 1): `{tag}:es:s:<streamId>`. */
export const streamKey = (tag: string, streamId: string): string => `{${tag}}:es:s:${streamId}`;

/** The global log (a Redis Stream, entry id `<n>-0` for global position n): `{tag}:es:all`. */
export const allEventsKey = (tag: string): string => `{${tag}}:es:all`;

/** Counter of the last global position handed out: `{tag}:es:pos`. */
export const positionKey = (tag: string): string => `{${tag}}:es:pos`;

/** A projection's views (a hash, field = view key): `{tag}:rm:<name>`. */
export const readModelKey = (tag: string, name: string): string => `{${tag}}:rm:${name}`;

/** A projection's checkpoint (last global position applied): `{tag}:rm:<name>:checkpoint`. */
export const checkpointKey = (tag: string, name: string): string => `{${tag}}:rm:${name}:checkpoint`;

/**
 * A projection's rebuild marker (the id of a rebuild not yet replayed to the end of the log):
 * `{tag}:rm:<name>:rebuilding`.
 */
export const rebuildMarkerKey = (tag: string, name: string): string => `{${tag}}:rm:${name}:rebuilding`;
