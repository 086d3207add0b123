/**
 * Redis helpers shared by every module that talks to Redis: `LuaScript`, a script run by EVALSHA
 * with a NOSCRIPT fallback to EVAL, and `execOrThrow`, a pipeline or MULTI that fails when any of
 * its commands failed; `redisTimeClock`, Redis `TIME` as the one clock of every instance; `ResendGuardRedis`, a client
 * that never sends again a write whose reply a connection drop lost (`ReplyLostError`).
 */
export {
  CLOCK_STEP_THRESHOLD_MS,
  RECENT_STEP_MS,
  RESYNC_MIN_INTERVAL_MS,
  type ClockStep,
  localClock,
  redisTimeClock,
  type RedisTimeClockOptions,
  type SharedClock,
} from "./clock.js";
export { execOrThrow, RedisExecAbortedError } from "./exec.js";
export { LuaScript, type ScriptRunner } from "./lua-script.js";
export { isOutOfMemory } from "./out-of-memory.js";
export { repeatable, ReplyLostError, ResendGuardRedis } from "./resend-guard.js";
export {
  checkWriteDeadline,
  DEADLINE_LUA,
  deadlineArg,
  LATE_REPLY,
  lateReplyError,
  WriteDeadlineError,
} from "./write-deadline.js";
