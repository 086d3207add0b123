import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { SpanKind, tracingEnabled, withSpan } from "../observability/spans.js";

/** The two commands a script needs, so a plain client or a test double can run it. */
export type ScriptRunner = Pick<Redis, "evalsha" | "eval">;

/**
 * A Lua script run by EVALSHA, falling back to EVAL when the server has not seen it (new, restarted
 * or flushed): the source crosses the wire once per server, not on every call. The digest is
 * computed once, when the script is defined.
 */
export interface LuaScriptOptions {
  /**
   * What a span shows of the script's first key (`db.redis.first_key`; default: the key). A key
   * whose name is derived from personal data (a blind index of an email) must not be exported as
   * is: the same value in two traces links them to one person (break35 F8).
   */
  spanKey?: (key: string) => string;
}

export class LuaScript {
  readonly source: string;
  readonly sha: string;
  private readonly spanKey: (key: string) => string;

  constructor(source: string, options: LuaScriptOptions = {}) {
    this.source = source;
    this.sha = createHash("sha1").update(source).digest("hex");
    this.spanKey = options.spanKey ?? ((key) => key);
  }

  /**
   * Runs the script. Inside a traced request or message it is a CLIENT span (`redis EVALSHA`, with
   * the first key): store writes are scripts, so this is where a trace shows them.
   */
  run(redis: ScriptRunner, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (!tracingEnabled()) return this.runUntraced(redis, keys, args);
    return withSpan(
      "redis EVALSHA",
      {
        kind: SpanKind.CLIENT,
        needParent: true,
        attributes: {
          "db.system.name": "redis",
          "db.system": "redis",
          "db.operation.name": "EVALSHA",
          "db.redis.script_sha": this.sha.slice(0, 12),
          ...(keys[0] === undefined
            ? {}
            : { "db.redis.first_key": this.spanKey(keys[0]), "db.redis.key_count": keys.length }),
        },
      },
      () => this.runUntraced(redis, keys, args),
    );
  }

  private async runUntraced(
    redis: ScriptRunner,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // Only the reply code counts: a script's own error text may mention NOSCRIPT, and running
      // it again by EVAL would apply its writes twice.
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
