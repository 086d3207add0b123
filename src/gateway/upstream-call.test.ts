import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { TimeoutError } from "../lib/resilience/errors.js";
import { waitFor } from "../test-support/wait.js";
import { callUpstream } from "./upstream-call.js";

const KEEP = new Set(["content-type", "retry-after"]);
const opened: { server: Server; agent: Agent }[] = [];

afterEach(async () => {
  for (const { server, agent } of opened.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await agent.close();
  }
});

/** A server on a free port; `connections` keep-alive sockets at most towards it. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, connections = 8) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const agent = new Agent({ connections, pipelining: 1 });
  opened.push({ server, agent });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, agent };
}

describe("callUpstream", () => {
  it("returns the status, the kept headers (a repeated one dropped) and the whole body", async () => {
    const { origin, agent } = await serve((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        res.writeHead(202, [
          ["Content-Type", "application/json"],
          ["Retry-After", "1"],
          ["Retry-After", "2"],
          ["X-Other", "x"],
        ]);
        res.write('{"echo":');
        res.end(`${body}}`);
      });
    });
    const answer = await callUpstream(
      agent,
      {
        origin,
        path: "/orders",
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "[1]",
      },
      5_000,
      KEEP,
    );
    expect(answer.status).toBe(202);
    expect(answer.headers).toEqual({ "content-type": "application/json" });
    expect(answer.body.toString()).toBe('{"echo":[1]}');
  });

  it("rejects with TimeoutError, and a request that timed out waiting for a connection is never sent", async () => {
    const seen: string[] = [];
    const held: ServerResponse[] = [];
    const { origin, agent } = await serve((req, res) => {
      seen.push(req.url ?? "");
      held.push(res);
    }, 1);
    // The only connection is taken by a request the server holds.
    const first = callUpstream(agent, { origin, path: "/first", method: "GET", headers: {} }, 5_000, KEEP);
    await waitFor(() => seen.length === 1);
    const queued = callUpstream(agent, { origin, path: "/second", method: "POST", headers: {} }, 50, KEEP);
    await expect(queued).rejects.toBeInstanceOf(TimeoutError);
    // The connection frees up: the timed-out request must not go out late.
    held[0]?.end("done");
    expect((await first).body.toString()).toBe("done");
    const third = callUpstream(agent, { origin, path: "/third", method: "GET", headers: {} }, 5_000, KEEP);
    await waitFor(() => seen.length === 2);
    held[1]?.end("ok");
    await third;
    expect(seen).toEqual(["/first", "/third"]);
  });
});
