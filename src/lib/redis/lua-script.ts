import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** The two commands a script needs, so a plain client or a test double can run it. */
export type ScriptRunner = Pick<Redis, "evalsha" | "eval">;

/**
 * A Lua script run by EVALSHA, falling back to EVAL when the server has not seen it (new, restarted
 * or flushed): the source crosses the wire once per server, not on every call. The digest is
 * computed once, when the script is defined.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(
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
