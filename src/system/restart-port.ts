/**
 * The port a process the launcher restarts takes again (break19 F3), apart from the launcher's
 * process handling (launcher.ts).
 */
import type { ProcessSpec } from "./launcher.js";
import { assertPortFree } from "./port-probe.js";

/** The variables a child takes its port from, with the one naming the host it listens on. */
const PORT_VARIABLES = [
  { port: "GATEWAY_PORT", host: "GATEWAY_HOST" },
  { port: "SERVICE_PORT", host: "SERVICE_HOST" },
] as const;

/**
 * The port a child that took a free one (`--any-port`, an extra instance: port 0) restarts on: the
 * port it first came up on, whose URL the banner printed and clients use (break19 F3: a gateway
 * killed with SIGKILL came back on another port, and every client lost it; its instance id stays
 * the same too). Only when another process holds that port now, a free one (`taken`). A child with
 * a fixed port keeps its environment. Should the port be taken between this check and the child's
 * listen, the child fails to start and the next restart checks again.
 */
export async function portForRestart(
  spec: ProcessSpec,
  firstUrl: string | undefined,
): Promise<{ env?: Record<string, string>; taken?: number }> {
  const variables = PORT_VARIABLES.find((v) => spec.env[v.port] === "0");
  const port = firstUrl === undefined ? undefined : portOf(firstUrl);
  if (variables === undefined || port === undefined) return {};
  // As port-probe's busyPorts reads it: an empty host variable is the default host.
  const host = spec.env[variables.host] || process.env[variables.host] || "127.0.0.1";
  const free = await assertPortFree(port, host).then(
    () => true,
    () => false,
  );
  if (!free) return { taken: port };
  return { env: { [variables.port]: String(port) } };
}

/** The port of a URL (its scheme's default when none is written), undefined when it has none. */
export function portOf(url: string): number | undefined {
  try {
    const parsed = new URL(url);
    const port = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
