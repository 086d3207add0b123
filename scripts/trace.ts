/**
 * `npm run trace -- <orderId>`: an order's timeline from its event history (through the gateway),
 * and, when the order was placed with tracing on, its trace id to open in the tracing UI.
 *
 *   GATEWAY_URL (else, with REDIS_URL, the gateway running over that Redis, found in its registry
 *   as the demo finds it: a REDIS_URL the services would refuse, a registry it cannot read or one
 *   with no healthy gateway is an error, exit 1, never a guess at another system; with neither,
 *   http://localhost:8080), GATEWAY_API_KEY (when the gateway wants one), TRACING_UI_URL (e.g.
 *   http://localhost:16686 for Jaeger: prints a link to the trace). `--help`: the usage, exit 0.
 */
import { errorWithCauses } from "../src/lib/runtime/launch-signal.js";
import { findRunningGateway, GatewayNotAnsweringError } from "../src/demo/target.js";
import { redactRedisUrl } from "../src/lib/runtime/redis-url.js";
import { redisConnectTimeoutMs } from "../src/system/dev-secrets-start.js";
import { formatTimeline, type OrderHistory } from "../src/system/order-timeline.js";

const USAGE =
  "usage: npm run trace -- <orderId>\n" +
  "  through GATEWAY_URL, else the gateway registered over REDIS_URL, else http://localhost:8080;\n" +
  "  GATEWAY_API_KEY when the gateway has API keys, TRACING_UI_URL for a link to the trace\n";
const orderId = process.argv[2];
// --help is a question, not a mistake (newuser9 F3: it exited 2).
if (orderId === "--help" || orderId === "-h") {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!orderId || orderId.startsWith("-") || process.argv.length > 3) {
  process.stderr.write(USAGE);
  process.exit(2);
}
// Empty counts as unset, as everywhere. A gateway started with --port-base or --any-port is not on
// 8080: the registry of REDIS_URL says where it is (newuser7 F3).
const redisUrl = process.env.REDIS_URL?.trim();
const gatewayUrl = process.env.GATEWAY_URL?.trim();
let found: string | undefined;
if (!gatewayUrl && redisUrl) {
  // REDIS_URL checked as every entry point checks it (scheme, whole-number database): `/abc` was
  // an unhandled `SELECT NaN` ReplyError, `http://` a misleading ENOENT (newuser9 F14).
  let timeoutMs: number;
  try {
    timeoutMs = redisConnectTimeoutMs({ ...process.env, REDIS_URL: redisUrl });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  // REDIS_URL names the system: when its registry cannot be read, or holds no healthy gateway,
  // localhost:8080 could be another system (and would print its order): stop and say what to set.
  try {
    found = await findRunningGateway(redisUrl, timeoutMs);
  } catch (error) {
    process.stderr.write(
      error instanceof GatewayNotAnsweringError
        ? `${redactRedisUrl(redisUrl)}: ${error.message}\n`
        : `cannot read the registry of ${redactRedisUrl(redisUrl)}: ${(error as Error).message}\n` +
            "  fix REDIS_URL, or set GATEWAY_URL to the gateway's URL\n",
    );
    process.exit(1);
  }
  if (found === undefined) {
    process.stderr.write(
      `no healthy gateway is registered over ${redactRedisUrl(redisUrl)}: start the system, or set GATEWAY_URL to the gateway's URL\n`,
    );
    process.exit(1);
  }
}
const base = (gatewayUrl || found || "http://localhost:8080").replace(/\/$/, "");
const headers: Record<string, string> = process.env.GATEWAY_API_KEY
  ? { "x-api-key": process.env.GATEWAY_API_KEY }
  : {};
let res: Response;
try {
  res = await fetch(`${base}/orders/${encodeURIComponent(orderId)}/events`, { headers });
} catch (error) {
  const hint = gatewayUrl
    ? "is GATEWAY_URL right, and the system running?"
    : found
      ? `the gateway registered over ${redactRedisUrl(redisUrl ?? "")} does not answer any more: start the system again, or set GATEWAY_URL`
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
