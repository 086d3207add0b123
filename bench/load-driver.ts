/**
 * Open-loop order placement for the load benchmark: POST /orders at a fixed rate over keep-alive
 * HTTP, recording per order when the POST left and when its 202 came back.
 */
import { Agent, request } from "node:http";
import { sleep } from "./support.js";

export interface PlacedOrder {
  /** performance.now() when the POST was written. */
  sentAt: number;
  /** performance.now() when the 202 (with the order id) arrived. */
  acceptedAt: number;
}

export interface DriveResult {
  /** Requests the schedule asked for (rate × duration). */
  offered: number;
  sent: number;
  accepted: number;
  /** Non-202 answers and transport errors, by status (or error code). */
  failures: Record<string, number>;
  placed: Map<string, PlacedOrder>;
  startedAt: number;
  seconds: number;
}

export interface DriveOptions {
  gatewayUrl: string;
  /** The JSON body every POST sends (a new order each time: no Idempotency-Key). */
  body: string;
  ratePerSec: number;
  durationSec: number;
  /** Past this many requests in flight the schedule waits rather than piling up sockets. */
  maxInFlight?: number;
  connections?: number;
}

interface Shot {
  status: number;
  orderId: string | undefined;
}

function post(agent: Agent, url: URL, body: string): Promise<Shot> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
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
          resolve({ status, orderId });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends `ratePerSec` POSTs per second for `durationSec`, then waits for the answers in flight. */
export async function driveOrders(options: DriveOptions): Promise<DriveResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections ?? 64 });
  const url = new URL("/orders", options.gatewayUrl);
  const maxInFlight = options.maxInFlight ?? 2_000;
  const offered = Math.round(options.ratePerSec * options.durationSec);
  const result: DriveResult = {
    offered,
    sent: 0,
    accepted: 0,
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
    const shot = post(agent, url, options.body).then(
      ({ status, orderId }) => {
        if (status === 202 && orderId) {
          result.accepted++;
          result.placed.set(orderId, { sentAt, acceptedAt: performance.now() });
        } else fail(String(status));
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
