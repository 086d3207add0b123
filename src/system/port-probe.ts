/**
 * Fixed ports checked before anything starts: `npm start` probes its gateway's port (newuser10 F3),
 * `npm run start:services` every fixed port it will give a process (newuser11 F8: a taken gateway
 * port was found only after six services had started, ~35 s, and were then stopped again).
 */
import { createServer } from "node:net";
import { startFailureReason } from "../lib/runtime/launch-signal.js";
import { GATEWAY } from "./catalog.js";
import type { ProcessSpec } from "./launcher.js";

/**
 * Resolves when `port` on `host` can be listened on (a probe, closed at once); else rejects with
 * the listen error (EADDRINUSE, EACCES...), the one the process's own listen would meet.
 */
export function assertPortFree(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * The processes whose fixed port (SERVICE_PORT or GATEWAY_PORT, not 0) cannot be listened on, each
 * with the reason its own start would give. `env`: what the processes inherit (their host).
 */
export async function busyPorts(
  specs: readonly ProcessSpec[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ label: string; reason: string }[]> {
  const busy: { label: string; reason: string }[] = [];
  for (const spec of specs) {
    const gateway = spec.main === GATEWAY.main;
    const port = Number(gateway ? spec.env.GATEWAY_PORT : spec.env.SERVICE_PORT);
    if (!Number.isInteger(port) || port <= 0) continue;
    const variable = gateway ? "GATEWAY_HOST" : "SERVICE_HOST";
    const host = spec.env[variable] || env[variable] || "127.0.0.1";
    await assertPortFree(port, host).catch((error: unknown) =>
      busy.push({ label: spec.label, reason: startFailureReason(error, port, { variable, host }) }),
    );
  }
  return busy;
}
