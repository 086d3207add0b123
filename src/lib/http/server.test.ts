import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { z } from "zod";
import { ReplyError } from "ioredis";
import { ReplyLostError } from "../redis/resend-guard.js";
import { AppError } from "./errors.js";
import { createHttpServer, parseInput, parseQuery } from "./server.js";

const app = createHttpServer({ bodyLimit: 1024 });
app.post("/echo", async (request) =>
  parseInput(z.object({ name: z.string().min(1), n: z.number().int() }), request.body),
);
app.get<{ Params: { id: string } }>("/item/:id", async (request) => ({ id: request.params.id }));
app.get("/boom", async () => {
  throw new Error("secret internals at /srv/app.ts:12");
});
app.get("/conflict", async () => {
  throw Object.assign(new Error("order moved on"), { code: "CONCURRENCY_CONFLICT" });
});
app.get("/reply-lost", async () => {
  throw new ReplyLostError("set");
});
app.get("/gone", async () => {
  throw new AppError("SERVICE_UNAVAILABLE", "no instance");
});
let base = "";

beforeAll(async () => {
  base = await app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(() => app.close());

const post = (body: string, type = "application/json") =>
  fetch(`${base}/echo`, { method: "POST", headers: { "content-type": type }, body });

describe("HTTP server errors", () => {
  it("answers 400 with the path and message of every validation issue", async () => {
    const res = await post(JSON.stringify({ name: "", n: 1.5 }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: { path: string }[] } };
    expect(body.error.code).toBe("VALIDATION_FAILED");
    expect(body.error.details.map((d) => d.path)).toEqual(["name", "n"]);
  });

  it("rejects malformed JSON and prototype poisoning with 400", async () => {
    expect((await post("{oops")).status).toBe(400);
    const poisoned = await post('{"name":"x","n":1,"__proto__":{"admin":true}}');
    expect(poisoned.status).toBe(400);
    expect(((await poisoned.json()) as { error: { code: string } }).error.code).toBe("MALFORMED_JSON");
  });

  // Break10 F6: valid JSON refused for a reserved key said "not valid JSON".
  it("says a refused __proto__ or constructor.prototype key is reserved, and broken JSON is not JSON", async () => {
    for (const body of ['{"name":"x","n":1,"__proto__":{}}', '{"name":"x","constructor":{"prototype":{}}}']) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("MALFORMED_JSON");
      expect(error.message).toMatch(/reserved key/);
      expect(error.message).not.toMatch(/not valid JSON/);
    }
    const broken = (await (await post("{oops")).json()) as { error: { message: string } };
    expect(broken.error.message).toMatch(/not valid JSON/);
  });

  it("answers 413 for a body over the limit and 415 for a non-JSON body", async () => {
    const big = await post(JSON.stringify({ name: "x".repeat(2000), n: 1 }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");
    expect((await post("name=x", "text/plain")).status).toBe(415);
  });

  // break13 F3, F4: the services decoded bodies lossily too (U+FFFD stored), ignored the charset,
  // and read a gzip body as "not valid JSON".
  it("refuses invalid UTF-8 (400), another charset (415) and a Content-Encoding (415)", async () => {
    const send = (body: Buffer, headers: Record<string, string> = {}) =>
      fetch(`${base}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
    const codeOf = async (res: Response) => ({
      status: res.status,
      code: ((await res.json()) as { error: { code: string } }).error.code,
    });
    const invalid = Buffer.concat([
      Buffer.from('{"name":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","n":1}'),
    ]);
    expect(await codeOf(await send(invalid))).toEqual({ status: 400, code: "MALFORMED_JSON" });
    const latin1 = Buffer.concat([Buffer.from('{"name":"Jos'), Buffer.from([0xe9]), Buffer.from('","n":1}')]);
    expect(
      await codeOf(await send(latin1, { "content-type": "application/json; charset=iso-8859-1" })),
    ).toEqual({ status: 415, code: "UNSUPPORTED_MEDIA_TYPE" });
    const gz = gzipSync('{"name":"x","n":1}');
    expect(await codeOf(await send(gz, { "content-encoding": "gzip" }))).toEqual({
      status: 415,
      code: "UNSUPPORTED_CONTENT_ENCODING",
    });
    const ok = await send(Buffer.from('{"name":"José","n":1}'), {
      "content-type": "application/json; charset=utf-8",
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ name: "José", n: 1 });
  });

  it("hides internal errors behind a generic 500", async () => {
    const res = await fetch(`${base}/boom`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("srv");
    expect(JSON.parse(text)).toEqual({ error: { code: "INTERNAL", message: "Internal server error" } });
  });

  it("maps codes to statuses and adds Retry-After to 503", async () => {
    const res = await fetch(`${base}/gone`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual({ error: { code: "SERVICE_UNAVAILABLE", message: "no instance" } });
  });

  it("answers a write whose Redis reply was lost 503 REDIS_REPLY_LOST with Retry-After, not 500", async () => {
    const res = await fetch(`${base}/reply-lost`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("REDIS_REPLY_LOST");
  });

  it("answers a malformed or over-long URL in the same shape", async () => {
    const bad = await fetch(`${base}/echo/%E0%A4%A`);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("BAD_URL");
    const long = await fetch(`${base}/item/${"x".repeat(1_200)}`);
    expect(long.status).toBe(414);
    expect(((await long.json()) as { error: { code: string } }).error.code).toBe("URI_TOO_LONG");
  });

  it("maps a library's typed error by its code without wrapping it", async () => {
    const res = await fetch(`${base}/conflict`);
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: { code: "CONCURRENCY_CONFLICT", message: "order moved on" } });
  });

  it("answers unknown routes with 404 in the same shape", async () => {
    const res = await fetch(`${base}/nope?x=1`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: "NOT_FOUND", message: "No route GET /nope" } });
  });
});

// Newuser8 M1: with Fastify's default requestTimeout of 0, a body that never finished was never
// answered and its socket stayed open for good (3,000 such clients held 3,057 fds).
describe("HTTP server request timeout", () => {
  it("answers 408 REQUEST_TIMEOUT and closes the socket when a body stops arriving", async () => {
    const slow = createHttpServer({ requestTimeoutMs: 300 });
    slow.post("/echo", async (request) => request.body);
    const address = await slow.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = new URL(address);
      const socket = connect(Number(port), "127.0.0.1");
      let received = "";
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
      const closed = once(socket, "close");
      socket.write(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
      );
      // The margin (20 s for a 300 ms deadline) is for a loaded machine; it answers in well under 1 s.
      await Promise.race([
        closed,
        new Promise((_, reject) => setTimeout(reject, 20_000, new Error("socket left open"))),
      ]);
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      expect(received).toContain('"code":"REQUEST_TIMEOUT"');
    } finally {
      await slow.close();
    }
  }, 30_000);

  // Break10 F3: with request 1 (complete) still in its handler, the 408 for a half-sent pipelined
  // request 2 was written first, so the client read it as request 1's answer (which was applied).
  it("closes without writing a 408 when an earlier pipelined request's answer is still pending", async () => {
    const slow = createHttpServer({ requestTimeoutMs: 300 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let applied = 0;
    slow.post("/apply", async () => {
      await released;
      applied++;
      return { applied: true };
    });
    const address = await slow.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = new URL(address);
      const socket = connect(Number(port), "127.0.0.1");
      let received = "";
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
      socket.on("error", () => {}); // a reset is an acceptable close here
      const closed = once(socket, "close");
      socket.write(
        "POST /apply HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" +
          "POST /apply HTTP/1.1\r\nHost: x\r\n",
      );
      await Promise.race([
        closed,
        new Promise((_, reject) => setTimeout(reject, 20_000, new Error("socket left open"))),
      ]);
      // No answer at all (the client knows request 1's outcome is unknown), never a 408 in its place.
      expect(received).toBe("");
    } finally {
      release();
      await slow.close();
    }
    expect(applied).toBe(1);
  }, 30_000);

  it("still answers 408 to a stalled request that follows an answered one on the same connection", async () => {
    const slow = createHttpServer({ requestTimeoutMs: 300 });
    slow.post("/echo", async (request) => request.body);
    const address = await slow.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = new URL(address);
      const socket = connect(Number(port), "127.0.0.1");
      let received = "";
      const first = new Promise<void>((resolve) =>
        socket.on("data", (chunk: Buffer) => {
          received += chunk.toString("utf8");
          if (received.includes("{}")) resolve();
        }),
      );
      const closed = once(socket, "close");
      socket.write(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
      );
      await first;
      received = "";
      socket.write(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
      );
      await Promise.race([
        closed,
        new Promise((_, reject) => setTimeout(reject, 20_000, new Error("socket left open"))),
      ]);
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await slow.close();
    }
  }, 30_000);
});

// Newuser8 L3: an unknown parameter was reported at path `query`, not `query:<name>` as documented.
describe("query parameter errors", () => {
  it("names each unknown query parameter as query:<name>", () => {
    const schema = z.strictObject({ userId: z.string().optional() });
    let details: unknown;
    try {
      parseQuery(schema, { user_id: "u-1", sort: "x" });
    } catch (error) {
      details = (error as AppError).details;
    }
    expect(details).toEqual([
      { path: "query:user_id", message: 'unknown query parameter "user_id"' },
      { path: "query:sort", message: 'unknown query parameter "sort"' },
    ]);
  });
});

// Newuser9 F13: an unknown body field was reported at path "" (zod's one issue at the object's root).
describe("body field errors", () => {
  it("names each unknown body field at its own path, nested ones too", () => {
    const schema = z.strictObject({ email: z.string(), items: z.array(z.strictObject({ sku: z.string() })) });
    let details: unknown;
    try {
      parseInput(schema, { email: "z@example.com", extra: 1, items: [{ sku: "a", qty: 2 }] });
    } catch (error) {
      details = (error as AppError).details;
    }
    expect(details).toEqual(
      expect.arrayContaining([
        { path: "extra", message: 'unknown field "extra"' },
        { path: "items.0.qty", message: 'unknown field "qty"' },
      ]),
    );
    expect(details).toHaveLength(2);
  });
});

// break38 F2: Redis at maxmemory (noeviction) refuses writes with "OOM command not allowed ...". That
// is the shared store's condition, not a fault of the request or the instance: it answered 500
// INTERNAL, logged at error with a stack on every request.
describe("a write Redis refused for memory (OOM)", () => {
  const oom = () => new ReplyError("OOM command not allowed when used memory > 'maxmemory'.");
  const warns: Record<string, unknown>[] = [];
  const errors: Record<string, unknown>[] = [];
  const oomApp = createHttpServer({
    errorLog: {
      error: (fields) => errors.push(fields as Record<string, unknown>),
      warn: (fields) => warns.push(fields as Record<string, unknown>),
    },
  });
  oomApp.get("/oom", async () => {
    throw oom();
  });
  // What ioredis's MULTI rejects with when a queued command was refused.
  oomApp.get("/oom-multi", async () => {
    throw Object.assign(new ReplyError("EXECABORT Transaction discarded because of previous errors."), {
      previousErrors: [oom()],
    });
  });
  oomApp.get("/oom-wrapped", async () => {
    throw new Error("could not save", { cause: oom() });
  });
  let oomBase = "";
  beforeAll(async () => {
    oomBase = await oomApp.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await oomApp.close();
  });

  it("answers 503 STORE_OUT_OF_MEMORY with Retry-After, logged once at warn without a stack", async () => {
    for (const path of ["/oom", "/oom-multi", "/oom-wrapped", "/oom", "/oom"]) {
      const res = await fetch(`${oomBase}${path}`);
      expect({ path, status: res.status, retryAfter: res.headers.get("retry-after") }).toEqual({
        path,
        status: 503,
        retryAfter: "1",
      });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("STORE_OUT_OF_MEMORY");
    }
    expect(errors).toEqual([]);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ code: "STORE_OUT_OF_MEMORY", retryable: true });
    expect(JSON.stringify(warns[0])).not.toContain("stack");
  });
});
