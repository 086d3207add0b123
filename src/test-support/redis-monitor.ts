/**
 * Records every command a Redis server executes (MONITOR), to assert on what code sends: which
 * commands, and how many keys or arguments the largest one carried. `stop()` first waits for a
 * marker command of its own, so every command sent before it is in `commands` (MONITOR reports
 * asynchronously, in execution order).
 */
import { randomUUID } from "node:crypto";
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

/** Starts MONITOR on a new connection duplicated from `redis` (whose own commands are recorded too). */
export async function recordCommands(redis: Redis): Promise<CommandRecorder> {
  const monitor = await redis.monitor();
  const commands: MonitoredCommand[] = [];
  const marker = `recorder-stop-${randomUUID()}`;
  let markerSeen = false;
  monitor.on("monitor", (_time: string, raw: unknown[]) => {
    const [name = "", ...args] = raw.map(String);
    if (name.toLowerCase() === "echo" && args[0] === marker) {
      markerSeen = true;
      return;
    }
    if (!markerSeen) commands.push({ name: name.toLowerCase(), args });
  });
  return {
    commands,
    async stop() {
      await redis.echo(marker);
      await waitFor(() => markerSeen, 10_000, "MONITOR to report the stop marker");
      monitor.disconnect();
      return commands;
    },
  };
}
