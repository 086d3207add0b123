/**
 * Records every command a Redis server executes (MONITOR), to assert on what code sends: which
 * commands, and how many keys or arguments the largest one carried. `stop()` first waits for a
 * marker command of its own, so every command sent before it is in `commands` (MONITOR reports
 * asynchronously, in execution order).
 *
 * MONITOR runs on a plain socket, not ioredis's `monitor()`: ioredis enters its monitoring state in
 * a promise callback after MONITOR's `OK`, so a command line arriving in the same read as the `OK`
 * (a busy server) hit an empty command queue and threw "Command queue state error" (a flaky test).
 * Here recording starts once the `OK` line is read, and every line after it is a command.
 */
import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { Redis } from "ioredis";
import { waitFor } from "./wait.js";

export interface MonitoredCommand {
  /** Lower-case command name (`del`, `evalsha`, ...). */
  name: string;
  /** Arguments after the name, as strings. */
  args: string[];
}

export interface CommandRecorder {
  /** Commands seen so far, in execution order (the recorder's own marker excluded). */
  readonly commands: MonitoredCommand[];
  /** Waits until every command executed before this call is recorded, then stops recording. */
  stop(): Promise<MonitoredCommand[]>;
}

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", a: "\x07", b: "\b" };

/** The quoted words of a MONITOR line (`<time> [<db> <client>] "cmd" "arg" ...`), unescaped. */
export function monitorWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    words.push(
      match[1]!.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) =>
        e.length === 3 ? String.fromCharCode(Number.parseInt(e.slice(1), 16)) : (ESCAPES[e] ?? e),
      ),
    );
  }
  return words;
}

/** Sends MONITOR (after AUTH when `redis` logs in) and resolves once Redis answered OK. */
function startMonitor(redis: Redis, onLine: (line: string) => void): Promise<Socket> {
  const { host = "127.0.0.1", port = 6379, username, password } = redis.options;
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let buffer = "";
    let okNeeded = password ? 2 : 1;
    socket.setEncoding("utf8");
    socket.once("error", reject);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf("\r\n");
      while (end >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\r\n");
        if (okNeeded > 0) {
          if (line !== "+OK") reject(new Error(`MONITOR refused: ${line}`));
          else if (--okNeeded === 0) resolve(socket);
        } else onLine(line);
      }
    });
    const auth = password ? ["AUTH", ...(username ? [username] : []), password] : undefined;
    const frame = (words: string[]) =>
      `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`;
    socket.write((auth ? frame(auth) : "") + frame(["MONITOR"]));
  });
}

/** Starts MONITOR on a connection of its own to `redis`'s server (whose own commands are recorded too). */
export async function recordCommands(redis: Redis): Promise<CommandRecorder> {
  const commands: MonitoredCommand[] = [];
  const marker = `recorder-stop-${randomUUID()}`;
  let markerSeen = false;
  const socket = await startMonitor(redis, (line) => {
    const [name = "", ...args] = monitorWords(line);
    if (name.toLowerCase() === "echo" && args[0] === marker) markerSeen = true;
    else if (!markerSeen) commands.push({ name: name.toLowerCase(), args });
  });
  return {
    commands,
    async stop() {
      await redis.echo(marker);
      await waitFor(() => markerSeen, 10_000, "MONITOR to report the stop marker");
      socket.destroy();
      return commands;
    },
  };
}
