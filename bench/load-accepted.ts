/**
 * Accepted-orders throughput: autocannon against POST /orders on the embedded system. autocannon runs
 * in a worker thread so the load generator and the system each get a core of this 2-core machine.
 */
import autocannon from "autocannon";

export interface AcceptedResult {
  connections: number;
  seconds: number;
  requests: number;
  /** All answers per second, whatever their status. */
  perSecond: number;
  /** 2xx answers (accepted orders) per second. */
  acceptedPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export async function measureAccepted(options: {
  gatewayUrl: string;
  body: string;
  durationSec: number;
  connections?: number;
}): Promise<AcceptedResult> {
  const connections = options.connections ?? 100;
  const result = await autocannon({
    url: new URL("/orders", options.gatewayUrl).toString(),
    method: "POST",
    headers: { "content-type": "application/json" },
    body: options.body,
    connections,
    pipelining: 1,
    duration: options.durationSec,
    workers: 1,
  });
  return {
    connections,
    seconds: result.duration,
    requests: result.requests.total,
    perSecond: Math.round(result.requests.total / result.duration),
    acceptedPerSecond: Math.round(result["2xx"] / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}
