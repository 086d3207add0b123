/**
 * A Redis client that does not run a write twice when a connection drops. ioredis, by default
 * (`autoResendUnfulfilledCommands`), sends again after a reconnect every command written before the
 * drop whose reply had not come: if Redis had run it and only the reply was lost, a script that
 * appends an event, charges or reserves ran twice. Turning that option off is no cure: ioredis then
 * drops those commands without settling them, and their callers wait forever.
 *
 * Here a command that had been written is sent again only when running it twice is the same as
 * once (a read, PING, a SUBSCRIBE, a stream read whose lost entries the reader takes up from its
 * pending list); any other fails with `ReplyLostError`, and its caller handles it like any other
 * failure: the bus runs the handler again (at least once, idempotent by design), an HTTP request
 * answers 5xx. A pipeline or MULTI goes again whole, or fails whole when any of its commands is a
 * write. Commands queued while offline were never written: they are sent on reconnect, as before.
 */
import { hasFlag } from "@ioredis/commands";
import { type Command, Redis, type RedisOptions } from "ioredis";

type Target = Parameters<Redis["sendCommand"]>[1];

/** The command may have run: its reply was lost with the connection. */
export class ReplyLostError extends Error {
  constructor(readonly command: string) {
    super(
      `the connection to Redis closed before ${command.toUpperCase()} was answered; it may have run, so it is not sent again`,
    );
    this.name = "ReplyLostError";
  }
}

/** Not flagged read-only, yet running them twice changes nothing a caller relies on. */
const REPEATABLE = new Set([
  "ping",
  "echo",
  "time",
  "info",
  "select",
  "subscribe",
  "psubscribe",
  "ssubscribe",
  "unsubscribe",
  "punsubscribe",
  "sunsubscribe",
  // A lost XREADGROUP `>` reply leaves its entries pending in the consumer's name, never handed to
  // a handler; the subscription takes them up on reconnect (resumeOwnPending). Reading again
  // delivers other entries, never those twice.
  "xreadgroup",
]);

/** A transaction's frame: the batch is as safe to repeat as the commands it wraps. */
const FRAME = new Set(["multi", "exec", "discard"]);

export function repeatable(name: string): boolean {
  const lower = name.toLowerCase();
  return REPEATABLE.has(lower) || hasFlag(lower, "readonly", { nameCaseInsensitive: true });
}

export class ResendGuardRedis extends Redis {
  /** Commands written to a connection (a later sendCommand of one is ioredis's resend). */
  private readonly written = new WeakSet<Command>();
  /** Pipelines (their shared write target) holding a command that must not run twice. */
  private readonly unsafeBatches = new WeakSet<object>();

  override sendCommand(command: Command, target?: Target): unknown {
    if (this.written.has(command)) {
      const unsafe = target ? this.unsafeBatches.has(target) : !repeatable(command.name);
      if (unsafe) {
        command.reject(new ReplyLostError(command.name));
        return command.promise;
      }
    } else if (this.status === "ready" && this.stream?.writable) {
      // What ioredis writes at once (the rest waits in its offline queue, never written).
      this.written.add(command);
      if (target && !FRAME.has(command.name) && !repeatable(command.name)) this.unsafeBatches.add(target);
    }
    return super.sendCommand(command, target);
  }

  /** A duplicate (a stream reader's, a background connection) keeps the guard. */
  override duplicate(override?: Partial<RedisOptions>): ResendGuardRedis {
    return new ResendGuardRedis({ ...this.options, ...override });
  }
}
