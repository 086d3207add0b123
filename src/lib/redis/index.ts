/**
 * Redis helpers shared by every module that talks to Redis: `LuaScript`, a script run by EVALSHA
 * with a NOSCRIPT fallback to EVAL, and `execOrThrow`, a pipeline or MULTI that fails when any of
 * its commands failed.
 */
export { execOrThrow, RedisExecAbortedError } from "./exec.js";
export { LuaScript, type ScriptRunner } from "./lua-script.js";
