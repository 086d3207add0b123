/**
 * break19 F3, with real processes: a child on a free port (`--any-port`, or an extra instance)
 * killed with SIGKILL is restarted on the port it had, so clients using the banner's URL keep it;
 * only when another process took that port does it get another, with a warning naming both URLs.
 */
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../test-support/wait.js";
import { launch, type LaunchedSystem } from "./launcher.js";

const MAIN = "src/system/port-child.fixture.ts";
const START_MS = 60_000;

let system: LaunchedSystem | undefined;
let squatter: Server | undefined;
afterEach(async () => {
  await system?.stop();
  system = undefined;
  await new Promise((resolve) => (squatter ? squatter.close(resolve) : resolve(undefined)));
  squatter = undefined;
});

/**
 * Launches one child on a free port and kills it with SIGKILL once up; `whileDead` runs once it is
 * gone, before the launcher restarts it (500 ms later).
 */
async function killOnce(label: string, portVariable: string, whileDead?: (port: number) => Promise<void>) {
  const lines: string[] = [];
  system = launch([{ label, main: MAIN, env: { [portVariable]: "0" } }], (line) => lines.push(line), {
    respawn: { initialDelayMs: 500 },
  });
  const first = (await system.ready).get(label)!;
  // A client's kept-alive connection at the kill leaves the port in TIME_WAIT: no obstacle.
  expect(await (await fetch(first)).text()).toBe("ok");
  const child = system.children.get(label)!;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await gone;
  await whileDead?.(Number(new URL(first).port));
  const restarted = await waitFor(
    () => lines.find((l) => l.includes("restarted: up at")),
    START_MS,
    `a restart in ${lines.join("\n")}`,
  );
  return { first, again: restarted.slice(restarted.indexOf("http://")), lines };
}

describe("the launcher restarts a process on the port it had", () => {
  it("keeps the gateway's first port (GATEWAY_PORT=0) across a SIGKILL", async () => {
    const { first, again } = await killOnce("gateway", "GATEWAY_PORT");
    expect(again).toBe(first);
    expect(await (await fetch(again)).text()).toBe("ok");
  }, 120_000);

  it("takes another port for a service whose port was taken meanwhile, and says which", async () => {
    const { first, again, lines } = await killOnce("order", "SERVICE_PORT", async (port) => {
      squatter = createServer();
      const taken = squatter;
      await new Promise<void>((resolve, reject) => {
        taken.once("error", reject);
        taken.listen(port, "127.0.0.1", resolve);
      });
    });
    expect(again).not.toBe(first);
    expect(lines.some((l) => l.includes(first) && l.includes(again) && /warning/i.test(l))).toBe(true);
  }, 120_000);
});
