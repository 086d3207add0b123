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
  /** The non-2xx answers by status, e.g. `429 ×1000, 503 ×86` (`none` when there were none). */
  non2xxStatuses: string;
  errors: number;
}

/**
 * autocannon's `statusCodeStats` as a line of the statuses that are not 2xx, most frequent first: a
 * share of non-2xx means something only with its statuses (new-user finding F5: 5.4% unexplained).
 */
export function non2xxByStatus(stats: Record<string, { count?: number }> | undefined): string {
  const failed = Object.entries(stats ?? {})
    .filter(([status, { count }]) => !status.startsWith("2") && (count ?? 0) > 0)
    .sort((a, b) => (b[1].count ?? 0) - (a[1].count ?? 0));
  return failed.length === 0 ? "none" : failed.map(([status, { count }]) => `${status} ×${count}`).join(", ");
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
    non2xxStatuses: non2xxByStatus(result.statusCodeStats),
    errors: result.errors,
  };
}
