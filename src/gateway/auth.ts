/**
 * API-key authentication and roles, off unless keys are configured. Keys are compared by their
 * SHA-256 digest, so the check takes the same time whatever prefix of a key a caller guesses.
 *
 * Two roles (issue 12 item 4): a `client` key (GATEWAY_API_KEYS) may use the business API; an
 * `admin` key (GATEWAY_ADMIN_API_KEYS) may also change the catalog, restock, operate the DLQ,
 * read `/services`, the payment routes (`/payments/...`) and the shipment routes (a shipment, the
 * parked ones, their re-queue).
 * With no key of either kind configured every route is open (development).
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { errorBody } from "../lib/http/errors.js";
import { proxyRoutes } from "./routes/table.js";
import { isSafeMethod } from "./upstream-errors.js";
import { authFailureThrottle, tooManyRequests } from "./auth-throttle.js";
import { clientAddressKey } from "./client-address.js";

/** Failed authentications per client address and minute before 429 (GATEWAY_AUTH_FAILURES_PER_MINUTE). */
export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 10;

/** Routes open without a key: load balancers and orchestrators probe them. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(["/health"]);

/**
 * The routes flagged `admin` in the route table (templates): the shipping service's operator routes
 * (the only `/shipments` routes the gateway serves). Read from the table that registers and
 * documents them, so a route and its admin check cannot drift apart.
 */
const FLAGGED_ADMIN_ROUTES: ReadonlySet<string> = new Set(
  proxyRoutes.filter((route) => route.admin === true).map((route) => route.url),
);

export type ApiKeyRole = "client" | "admin";

/**
 * Operations only an admin key may call: catalog changes and restock (`POST /inventory...`), every
 * DLQ route, the instance list (`/services...`, it names internal addresses) and the payment
 * records and reconciliation (`/payments/...`: any order's money and the provider's ledger), and the
 * routes flagged `admin` in the route table: the shipment routes (`/shipments/:orderId`, an
 * operator's check of a shipment, break34 F3; `/shipments/parked`, `/shipments/:orderId/requeue`:
 * an operator's repair; a client follows its shipment through its order's status and history). `url` is the route template (`/dlq/:id`), so a path
 * parameter cannot smuggle a route past the check.
 */
export function isAdminRoute(method: string, url: string): boolean {
  if (url === "/dlq" || url.startsWith("/dlq/")) return true;
  if (url === "/services" || url.startsWith("/services/")) return true;
  if (url === "/payments" || url.startsWith("/payments/")) return true;
  if (FLAGGED_ADMIN_ROUTES.has(url)) return true;
  const inventory = url === "/inventory" || url.startsWith("/inventory/");
  return inventory && !isSafeMethod(method);
}

const digest = (key: string) => createHash("sha256").update(key).digest("hex");

interface Caller {
  id: string;
  role: ApiKeyRole;
}

const callers = new WeakMap<FastifyRequest, Caller>();

/** The key a request presents: `Authorization: Bearer <key>` or `x-api-key: <key>`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === "string" && header.toLowerCase().startsWith("bearer ")) {
    const key = header.slice(7).trim();
    if (key !== "") return key;
  }
  const apiKey = request.headers["x-api-key"];
  return typeof apiKey === "string" && apiKey !== "" ? apiKey : undefined;
}

/**
 * Adds the check to every route but PUBLIC_ROUTES when any key is configured: no key or an unknown
 * one is 401 UNAUTHORIZED; a client key on an admin route (`isAdminRoute`) is 403 ADMIN_REQUIRED.
 * A key listed in both lists is an admin key. An address that failed `failuresPerMinute` times
 * (default 10; 0: never throttled) gets 429 RATE_LIMITED with `Retry-After` on those routes, any key,
 * until its budget refills (auth-throttle.ts).
 */
export function installApiKeyAuth(
  app: FastifyInstance,
  keys: readonly string[],
  adminKeys: readonly string[] = [],
  throttle: { failuresPerMinute?: number; monotonicNow?: () => number } = {},
): void {
  const roles = new Map<string, ApiKeyRole>();
  for (const key of keys) if (key !== "") roles.set(digest(key), "client");
  for (const key of adminKeys) if (key !== "") roles.set(digest(key), "admin");
  if (roles.size === 0) return;
  const failures = authFailureThrottle({
    perMinute: throttle.failuresPerMinute ?? DEFAULT_AUTH_FAILURES_PER_MINUTE,
    ...(throttle.monotonicNow ? { monotonicNow: throttle.monotonicNow } : {}),
  });
  app.addHook("onRequest", async (request, reply) => {
    const url = request.routeOptions.url ?? "";
    if (PUBLIC_ROUTES.has(url)) return;
    // An IPv6 client is its /64: it could take a new address of it for every guess (client-address.ts).
    const client = clientAddressKey(request.ip);
    const waitMs = failures.blockedForMs(client);
    if (waitMs > 0)
      return tooManyRequests(
        reply,
        waitMs,
        (seconds) => `Too many failed authentication attempts from this address; retry in ${seconds} s`,
      );
    const key = presentedKey(request);
    const hash = key === undefined ? undefined : digest(key);
    const role = hash === undefined ? undefined : roles.get(hash);
    if (hash === undefined || role === undefined) {
      failures.recordFailure(client);
      return reply
        .code(401)
        .header("www-authenticate", 'Bearer realm="ordersaga"')
        .send(
          errorBody("UNAUTHORIZED", "Missing or invalid API key (Authorization: Bearer <key> or x-api-key)"),
        );
    }
    // Audit trails and Idempotency-Key scopes name the key by a digest prefix, never the key itself.
    callers.set(request, { id: `api-key:${hash.slice(0, 8)}`, role });
    if (role !== "admin" && isAdminRoute(request.method, url)) {
      return reply
        .code(403)
        .send(errorBody("ADMIN_REQUIRED", `${request.method} ${url} needs an admin API key`));
    }
  });
}

/** Who made the request, for audit entries: the key's digest prefix, else "anonymous". */
export function callerOf(request: FastifyRequest): string {
  return callers.get(request)?.id ?? "anonymous";
}

/** True when the request was authenticated with a key (auth on and the key known). */
export function isAuthenticated(request: FastifyRequest): boolean {
  return callers.has(request);
}
