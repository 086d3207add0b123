import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import Fastify from "fastify";
import { relayAnswer, writableHeaders } from "./routes/proxied.js";
import { startTestGateway, type TestGateway } from "./test-upstream.js";

// break-gw F1: a non-ASCII header value from an instance turned its answer into Fastify's default 500.

let gw: TestGateway | undefined;
const servers: (Server | TcpServer)[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ("closeAllConnections" in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await gw?.stop();
  gw = undefined;
});

/** A plain node:http inventory instance answering `status` with `headers`, given as raw bytes. */
async function inventoryAnswering(
  registry: TestGateway["registry"],
  headers: Record<string, Buffer>,
  status = 200,
  body = '{"productId":"p-1"}',
) {
  const server = createServer((_req, res) => {
    res.statusCode = status;
    // Node writes a header string as latin1: one byte per character, so these bytes go out as given.
    for (const [name, bytes] of Object.entries(headers)) res.setHeader(name, bytes.toString("latin1"));
    res.setHeader("content-type", "application/json");
    // A Buffer body: with a string one Node would write the header block as UTF-8 along with it.
    res.end(Buffer.from(body));
  });
  await register(registry, server);
}

/** An inventory instance writing `answer` as its whole HTTP response: bytes node:http refuses to send. */
async function inventoryWriting(registry: TestGateway["registry"], answer: Buffer) {
  const server = createTcpServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.end(answer));
  });
  await register(registry, server);
}

async function register(registry: TestGateway["registry"], server: Server | TcpServer) {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const at = new Date().toISOString();
  await registry.register(
    {
      service: "inventory",
      instanceId: "inv-raw",
      address: "127.0.0.1",
      port: (server.address() as AddressInfo).port,
      version: "1.0.0",
      startedAt: at,
      lastHeartbeat: at,
      status: "healthy",
      consecutiveFailures: 0,
    },
    60_000,
  );
}

/** GET through the gateway; header values as the bytes received (Node decodes them as latin1). */
function get(url: string): Promise<{ status: number; headers: Map<string, Buffer>; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (res: IncomingMessage) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => {
        const headers = new Map<string, Buffer>();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          headers.set(res.rawHeaders[i]!.toLowerCase(), Buffer.from(res.rawHeaders[i + 1]!, "latin1"));
        }
        resolve({ status: res.statusCode ?? 0, headers, body });
      });
    })
      .on("error", reject)
      .end();
  });
}

describe("gateway relays an instance's header values byte for byte", () => {
  it("relays a UTF-8 Location and a latin1 ETag unchanged, with the instance's 200 and body", async () => {
    gw = await startTestGateway();
    const location = Buffer.from("/café/€", "utf8");
    const etag = Buffer.from([0x22, 0xe9, 0x22]); // "é" in latin1, not valid UTF-8
    await inventoryAnswering(gw.registry, { location, etag });
    const res = await get(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('{"productId":"p-1"}');
    expect(res.headers.get("location")).toEqual(location);
    expect(res.headers.get("etag")).toEqual(etag);
  });
});

describe("gateway answers in the error shape when an answer cannot be relayed", () => {
  it("answers 502 BAD_GATEWAY, not Fastify's default body, for a status Fastify refuses (999)", async () => {
    gw = await startTestGateway({ breaker: { failureThreshold: 100 } });
    // In the error shape, so the gateway passes the answer on as it is, status included.
    const shaped = '{"error":{"code":"ODD","message":"odd"}}';
    await inventoryAnswering(gw.registry, { etag: Buffer.from('"v1"') }, 999, shaped);
    const res = await get(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(502);
    expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe("BAD_GATEWAY");
    // None of the instance's headers leak into the error answer.
    expect(res.headers.get("etag")).toBeUndefined();
  });
});

describe("gateway answers in the error shape for a header value no HTTP writer may send", () => {
  // The gateway relays values without checking them first (writableHeaders runs only if the send
  // throws): the HTTP client (undici's llhttp) refuses a response with such a value, the same
  // characters Node's validateHeaderValue refuses (controls but HTAB, DEL; a bare LF), so the relay
  // never sees one.
  it.each([
    ["a NUL", "\u0000"],
    ["a control character", "\u0001"],
    ["DEL", "\u007f"],
    ["a bare LF", "\n"],
  ])("answers 502 in the error shape, none of the instance's headers, for %s in an ETag", async (_, bad) => {
    gw = await startTestGateway({ breaker: { failureThreshold: 100 } });
    const body = '{"productId":"p-1"}';
    await inventoryWriting(
      gw.registry,
      Buffer.from(
        `HTTP/1.1 200 OK\r\nETag: "a${bad}b"\r\nX-Kept: no\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        "latin1",
      ),
    );
    const res = await get(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(502);
    expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe("BAD_GATEWAY");
    expect(res.headers.get("etag")).toBeUndefined();
  });
});

describe("relayAnswer, should a value Node cannot write still reach it", () => {
  it("drops that header only and relays the instance's status and body (the check runs after the write threw)", async () => {
    const app = Fastify();
    app.get("/", (request, reply) =>
      relayAnswer(request, reply, {
        status: 201,
        headers: { etag: "a\u0000b", location: "/caf\u00e9", "content-type": "application/json" },
        body: Buffer.from('{"ok":true}'),
      }),
    );
    try {
      const res = await app.inject({ method: "GET", url: "/" });
      expect(res.statusCode).toBe(201);
      expect(res.body).toBe('{"ok":true}');
      expect(res.headers.etag).toBeUndefined();
      expect(Buffer.from(String(res.headers.location), "latin1")).toEqual(
        Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9]),
      );
    } finally {
      await app.close();
    }
  });
});

describe("writableHeaders", () => {
  it("drops only the values Node cannot write, naming each", () => {
    const dropped: string[] = [];
    const kept = writableHeaders(
      { "content-type": "application/json", location: "/\u20ac", etag: "a\u0000b", "retry-after": "5" },
      (name) => dropped.push(name),
    );
    expect(kept).toEqual({ "content-type": "application/json", "retry-after": "5" });
    expect(dropped).toEqual(["location", "etag"]);
  });
});
