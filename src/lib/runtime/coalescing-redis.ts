/**
 * A Redis client that sends every command issued in one turn of the event loop (the synchronous
 * code and the promise callbacks that follow it) in one socket write: the first command of a turn
 * corks the socket and the turn's end (`process.nextTick`) uncorks it, so Node writes them all
 * with one `writev`. Commands are sent in the order they were issued, pipelines and MULTIs among
 * them, and each still gets its own reply as soon as it arrives.
 *
 * This is what ioredis's `enableAutoPipelining` is for, without its price: auto-pipelining defers
 * each turn's commands to a `setImmediate` and wraps them in a Pipeline, which costs ~15 µs of CPU
 * per turn more than the command itself (three times a plain command's cost, measured), and a turn
 * of a service handling a read batch of one or two messages usually sends one or two commands.
 */
import type { Redis } from "ioredis";
import { ResendGuardRedis } from "../redis/resend-guard.js";

type SendCommand = Redis["sendCommand"];

/** Also a `ResendGuardRedis`: a write whose reply was lost with the connection is not sent again. */
export class CoalescingRedis extends ResendGuardRedis {
  private corked = false;

  override sendCommand(...args: Parameters<SendCommand>): ReturnType<SendCommand> {
    const [, target] = args;
    const socket = this.stream;
    // Only commands written to the connection now (not queued offline, not into a pipeline's buffer).
    if (!this.corked && target === undefined && this.status === "ready" && socket?.writable) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    return super.sendCommand(...args);
  }
}
