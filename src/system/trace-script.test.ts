/** New-user F8: `npm run trace` against a gateway with API keys says how to give it one. */
import { createServer, type Server } from "node:http";
import { afterEach, expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";

let server: Server | undefined;
afterEach(async () => {
  killRuns();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

it("on a 401 says to set GATEWAY_API_KEY", async () => {
  // A gateway with API keys, as far as this script sees it: every route answers 401.
  server = createServer((_req, res) => {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "UNAUTHORIZED", message: "Missing or invalid API key" } }));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const r = runEntryPoint("scripts/trace.ts", ["o-1"], {
    GATEWAY_URL: `http://127.0.0.1:${port}`,
    GATEWAY_API_KEY: "",
  });
  expect(await exitWithin(r, 45_000)).toBe(1);
  expect(r.output()).toContain("set GATEWAY_API_KEY to one of the gateway's API keys");
}, 60_000);
