/**
 * Open-loop order placement for the load benchmark: POST /orders at a fixed rate over keep-alive
 * HTTP, recording per order when the POST left and when its 202 came back.
 */
import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import { sleep } from "./support.js";

/**
 * The Agent's own socket timeout (ms). Node 20 applies a server's `Keep-Alive: timeout=N` hint
 * (retiring a free socket at N − 1 s) only when it is below the Agent's `timeout`; with none set it
 * ignores the hint and keeps free sockets for ever. The gateway closes a socket idle 6 s
 * (GATEWAY_KEEP_ALIVE_TIMEOUT_MS 5 s + Node's 1 s buffer): a POST written onto it as it closed was
 * reset (the soak's ECONNRESETs). Far above the hint, so only the hint retires free sockets; a
 * request in flight is not cut by it (nothing listens to its `timeout` event).
 */
export const AGENT_TIMEOUT_MS = 60_000;

/** Errors that say the connection broke, not what the server did: a keyed POST is resent after them. */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE"]);

export interface PlacedOrder {
  /** performance.now() when the POST was written. */
  sentAt: number;
  /** performance.now() when the 202 (with the order id) arrived. */
  acceptedAt: number;
}

export interface DriveResult {
  /** Requests the schedule asked for (rate × duration). */
  offered: number;
  /** Orders sent (a resend is not counted again). */
  sent: number;
  /** Orders placed: distinct order ids answered 202 (a replayed 202 of a resend is not a second order). */
  accepted: number;
  /**
   * Keyed orders sent again, with the same Idempotency-Key, after a connection-level error
   * (CONNECTION_ERROR_CODES: a kept-alive socket the server closed as the POST was written). Not
   * failures: one whose resend failed too is counted once in `failures`, by the resend's outcome.
   */
  resent: number;
  /** 202s of resends marked `Idempotent-Replayed`: the first attempt had placed the order. */
  replayed: number;
  /** Orders that failed for good: non-202 answers and transport errors, by status (or error code). */
  failures: Record<string, number>;
  placed: Map<string, PlacedOrder>;
  startedAt: number;
  seconds: number;
}

export interface DriveOptions {
  gatewayUrl: string;
  /** The JSON body every POST sends (a new order each time). */
  body: string;
  /**
   * Each order with its own Idempotency-Key, resent once with it after a connection-level error
   * (default false). The soak sets it; the benchmarks leave it off to measure the keyless path
   * (a key costs the order service a Redis record per order), and a keyless POST is never resent:
   * one that broke may have been applied, and a resend would place a second order.
   */
  idempotencyKeys?: boolean;
  ratePerSec: number;
  durationSec: number;
  /** Past this many requests in flight the schedule waits rather than piling up sockets. */
  maxInFlight?: number;
  connections?: number;
}

interface Shot {
  status: number;
  orderId: string | undefined;
  /** `Idempotent-Replayed: true`: the answer of a key already used. */
  replayed: boolean;
}

function post(agent: Agent, url: URL, body: string, key: string | undefined): Promise<Shot> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(key === undefined ? {} : { "idempotency-key": key }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          let orderId: string | undefined;
          if (status === 202) {
            const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { orderId?: string };
            orderId = parsed.orderId;
          }
          resolve({ status, orderId, replayed: res.headers["idempotent-replayed"] === "true" });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends `ratePerSec` POSTs per second for `durationSec`, then waits for the answers in flight. */
export async function driveOrders(options: DriveOptions): Promise<DriveResult> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.connections ?? 64,
    timeout: AGENT_TIMEOUT_MS,
  });
  const url = new URL("/orders", options.gatewayUrl);
  const maxInFlight = options.maxInFlight ?? 2_000;
  const offered = Math.round(options.ratePerSec * options.durationSec);
  const result: DriveResult = {
    offered,
    sent: 0,
    accepted: 0,
    resent: 0,
    replayed: 0,
    failures: {},
    placed: new Map(),
    startedAt: performance.now(),
    seconds: 0,
  };
  const fail = (key: string) => {
    result.failures[key] = (result.failures[key] ?? 0) + 1;
  };
  const inFlight = new Set<Promise<void>>();
  const fire = () => {
    const sentAt = performance.now();
    const key = options.idempotencyKeys ? randomUUID() : undefined;
    const shot = post(agent, url, options.body, key)
      .catch((error: NodeJS.ErrnoException) => {
        if (key === undefined || !CONNECTION_ERROR_CODES.has(error.code ?? "")) throw error;
        result.resent++;
        return post(agent, url, options.body, key);
      })
      .then(
        ({ status, orderId, replayed }) => {
          if (status !== 202 || !orderId) return fail(String(status));
          if (replayed) result.replayed++;
          if (result.placed.has(orderId)) return;
          result.accepted++;
          result.placed.set(orderId, { sentAt, acceptedAt: performance.now() });
        },
        (error: NodeJS.ErrnoException) => fail(error.code ?? "error"),
      );
    const tracked = shot.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    result.sent++;
  };
  const start = result.startedAt;
  const endAt = start + options.durationSec * 1000;
  while (result.sent < offered && performance.now() < endAt + 1_000) {
    const due = Math.min(offered, Math.floor(((performance.now() - start) * options.ratePerSec) / 1000));
    while (result.sent < due && inFlight.size < maxInFlight) fire();
    await sleep(1);
  }
  result.seconds = (performance.now() - start) / 1000;
  await Promise.all(inFlight);
  agent.destroy();
  return result;
}
