/**
 * Redis helpers shared by every module that talks to Redis: `LuaScript`, a script run by EVALSHA
 * with a NOSCRIPT fallback to EVAL.
 */
export { LuaScript, type ScriptRunner } from "./lua-script.js";
