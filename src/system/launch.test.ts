/** The launcher with stand-in processes (launch.fixture.ts): what it reports, and in which order. */
import { afterEach, describe, expect, it } from "vitest";
import { LaunchError, type LaunchedSystem, launch } from "./launcher.js";

const MAIN = "src/system/launch.fixture.ts";
const systems: LaunchedSystem[] = [];
afterEach(async () => {
  for (const system of systems.splice(0)) await system.kill();
});

const spec = (label: string, env: Record<string, string> = {}) => ({
  label,
  main: MAIN,
  env: { FIXTURE_LABEL: label, ...env },
});

describe("launch", () => {
  it("lists the processes' URLs in the order they were given, not the order they came up in", async () => {
    const system = launch([spec("first", { FIXTURE_READY_AFTER_MS: "1500" }), spec("second")], () => {});
    systems.push(system);
    const urls = await system.ready;
    expect([...urls.keys()]).toEqual(["first", "second"]);
  }, 60_000);

  it("says a process killed at start was killed by its signal, not 'exit code null'", async () => {
    const lines: string[] = [];
    const system = launch([spec("victim", { FIXTURE_KILL_SELF: "1" })], (l) => lines.push(l));
    systems.push(system);
    const error = await system.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as LaunchError).exits[0]?.reason).toBe("killed by SIGKILL");
    expect(lines.join("\n")).toContain("killed by SIGKILL");
    expect(lines.join("\n")).not.toContain("null");
  }, 60_000);

  // The start:services banner is printed when the last process is ready: a process's start-up
  // lines, still being written by its logger, came out after it (new-user finding).
  it("has read every line a process logged before it said it was ready", async () => {
    const lines: string[] = [];
    const system = launch([spec("chatty", { FIXTURE_LOG_LINES: "3000" })], (l) => lines.push(l));
    systems.push(system);
    await system.ready;
    expect(lines.filter((line) => line.includes('"msg":"start-up line')).length).toBe(3000);
  }, 60_000);
});
