/** Fixed ports checked before anything starts (newuser11 F8). */
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { busyPorts } from "./port-probe.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

async function occupiedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as { port: number }).port;
}

const service = (label: string, port: number) => ({
  label,
  main: `src/services/${label}/main.ts`,
  env: { SERVICE_NAME: label, SERVICE_PORT: String(port) },
});
const gateway = (port: number) => ({
  label: "gateway",
  main: "src/gateway/main.ts",
  env: { GATEWAY_PORT: String(port) },
});

describe("busyPorts", () => {
  it("names each process whose fixed port is taken, with the reason its own start gives", async () => {
    const taken = await occupiedPort();
    const busy = await busyPorts([service("user", 0), service("order", taken), gateway(taken)], {});
    expect(busy.map((b) => b.label)).toEqual(["order", "gateway"]);
    expect(busy[1]?.reason).toMatch(new RegExp(`^port ${taken} is already in use`));
  });

  it("skips free ports (0: any free one)", async () => {
    expect(await busyPorts([service("user", 0), gateway(0)], {})).toEqual([]);
  });
});
