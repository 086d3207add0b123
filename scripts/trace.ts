/**
 * `npm run trace -- <orderId>`: an order's timeline from its event history (through the gateway),
 * and, when the order was placed with tracing on, its trace id to open in the tracing UI.
 *
 *   GATEWAY_URL (else, with REDIS_URL, the gateway running over that Redis, found in its registry
 *   as the demo finds it; else http://localhost:8080), GATEWAY_API_KEY (when the gateway wants
 *   one), TRACING_UI_URL (e.g. http://localhost:16686 for Jaeger: prints a link to the trace).
 */
import { errorWithCauses } from "../src/lib/runtime/launch-signal.js";
import { findRunningGateway } from "../src/demo/target.js";
import { formatTimeline, type OrderHistory } from "../src/system/order-timeline.js";

const orderId = process.argv[2];
if (!orderId || orderId.startsWith("-")) {
  process.stderr.write("usage: npm run trace -- <orderId>\n");
  process.exit(2);
}
// Empty counts as unset, as everywhere. A gateway started with --port-base or --any-port is not on
// 8080: the registry of REDIS_URL says where it is (newuser7 F3).
const redisUrl = process.env.REDIS_URL?.trim();
let found: string | undefined;
if (!process.env.GATEWAY_URL?.trim() && redisUrl) {
  try {
    found = await findRunningGateway(redisUrl);
  } catch (error) {
    process.stderr.write(`cannot read the registry of ${redisUrl}: ${(error as Error).message}\n`);
  }
}
const base = (process.env.GATEWAY_URL?.trim() || found || "http://localhost:8080").replace(/\/$/, "");
const headers: Record<string, string> = process.env.GATEWAY_API_KEY
  ? { "x-api-key": process.env.GATEWAY_API_KEY }
  : {};
let res: Response;
try {
  res = await fetch(`${base}/orders/${encodeURIComponent(orderId)}/events`, { headers });
} catch (error) {
  const hint = process.env.GATEWAY_URL?.trim()
    ? "is GATEWAY_URL right, and the system running?"
    : redisUrl
      ? `no healthy gateway is registered over ${redisUrl}: start the system, or set GATEWAY_URL to the gateway's URL`
      : "start the system, or set GATEWAY_URL to the gateway's URL (or REDIS_URL to find it in the registry)";
  process.stderr.write(`cannot reach the gateway at ${base}: ${errorWithCauses(error)}\n  ${hint}\n`);
  process.exit(1);
}
if (res.status === 404) {
  process.stderr.write(`no order ${orderId}\n`);
  process.exit(1);
}
if (!res.ok) {
  process.stderr.write(`GET /orders/${orderId}/events → ${res.status} ${await res.text()}\n`);
  // The script takes no --api-key flag: say where the key goes (newuser F8).
  if (res.status === 401)
    process.stderr.write(
      `${process.env.GATEWAY_API_KEY ? "GATEWAY_API_KEY was refused: set it" : "set GATEWAY_API_KEY"} to one of the gateway's API keys, e.g. GATEWAY_API_KEY=<key> npm run trace -- ${orderId}\n`,
    );
  process.exit(1);
}
const history = (await res.json()) as OrderHistory;
process.stdout.write(`${formatTimeline(history, process.env.TRACING_UI_URL)}\n`);
