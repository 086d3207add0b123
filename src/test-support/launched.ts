import type { LaunchedSystem } from "../system/launcher.js";

/**
 * The gateway's URL (on 127.0.0.1) once every process of `system` is up. Tests launch the gateway on
 * port 0 and read its port back here: a port picked free beforehand could be taken by another
 * listener on the machine before the gateway binds it (flake31 F6). Rejects with the launch error and
 * the last 30 log lines when a process exits before it is up.
 */
export async function gatewayUrlOf(system: LaunchedSystem, logs: readonly string[]): Promise<string> {
  const urls = await system.ready.catch((error: Error) => {
    throw new Error(`${error.message}\n${logs.slice(-30).join("\n")}`);
  });
  const url = urls.get("gateway");
  if (!url) throw new Error(`no gateway among the launched processes: ${[...urls.keys()].join(", ")}`);
  return `http://127.0.0.1:${new URL(url).port}`;
}
