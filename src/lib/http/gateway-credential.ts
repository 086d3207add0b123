/**
 * The gateway's credential on calls to services (issue 12 item 2): services' HTTP ports serve only
 * requests signed by the gateway, so reaching a service's port directly does not bypass the
 * gateway's API keys, roles and rate limits, nor let a caller choose its own `x-ordersaga-client`.
 *
 * Header `X-Gateway-Auth: v1.<unix ms>.<hex HMAC-SHA256(secret, "v1\n<METHOD>\n<path+query>\n<ms>")>`,
 * signed with the target service's own secret, derived from the gateway's master
 * (`serviceCredentialSecret`): a service can verify calls to itself, not sign calls to another.
 * The timestamp bounds
 * replay to `GATEWAY_AUTH_WINDOW_MS` (30 s either way, for clock skew); the body is not signed (the
 * window plus a private network; see docs/security.md "Service ports"). The MAC is compared with
 * `crypto.timingSafeEqual`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { errorBody } from "./errors.js";

export const GATEWAY_AUTH_HEADER = "x-gateway-auth";
/** How far (ms) a credential's timestamp may be from the service's clock, either way. */
export const GATEWAY_AUTH_WINDOW_MS = 30_000;
/**
 * Paths served without the credential: health probes (the gateway's checker, orchestrators) and
 * Prometheus scrapes. They change nothing and reveal no business data (service name, instance id,
 * version, check booleans, counters).
 */
export const OPEN_SERVICE_PATHS: ReadonlySet<string> = new Set(["/health", "/health/live", "/metrics"]);

const mac = (secret: string, method: string, path: string, at: number) =>
  createHmac("sha256", secret).update(`v1\n${method.toUpperCase()}\n${path}\n${at}`).digest();

/** The header value for one request (`path` with its query string, as sent). */
export function signGatewayRequest(secret: string, method: string, path: string, at = Date.now()): string {
  return `v1.${at}.${mac(secret, method, path, at).toString("hex")}`;
}

/** `{ "x-gateway-auth": ... }` for a call to `url` (absolute): tools and tests behind the gateway. */
export function gatewayHeaders(secret: string, method: string, url: string): Record<string, string> {
  const { pathname, search } = new URL(url);
  return { [GATEWAY_AUTH_HEADER]: signGatewayRequest(secret, method, `${pathname}${search}`) };
}

/**
 * The secret one service verifies the gateway's calls with (break-12 F8): HMAC-SHA256(master,
 * "ordersaga gateway credential v1\n<service>") as 64 hex characters. The gateway holds the master
 * (`GATEWAY_SHARED_SECRET`) and derives each service's; a service holds only its own
 * (`GATEWAY_SERVICE_SECRET`), so it cannot call another service as the gateway.
 */
export function serviceCredentialSecret(master: string, service: string): string {
  return createHmac("sha256", master).update(`ordersaga gateway credential v1\n${service}`).digest("hex");
}

/**
 * What a service's port verifies with, from its environment: `GATEWAY_SERVICE_SECRET`, else (a
 * process given the master, e.g. in development) the secret derived from `GATEWAY_SHARED_SECRET`,
 * else undefined (the port serves anyone: development only).
 */
export function serviceGatewaySecret(
  env: { GATEWAY_SERVICE_SECRET?: string | undefined; GATEWAY_SHARED_SECRET?: string | undefined },
  service: string,
): string | undefined {
  if (env.GATEWAY_SERVICE_SECRET) return env.GATEWAY_SERVICE_SECRET;
  return env.GATEWAY_SHARED_SECRET ? serviceCredentialSecret(env.GATEWAY_SHARED_SECRET, service) : undefined;
}

export type CredentialCheck = "ok" | "missing" | "invalid" | "expired";

/** Checks a presented header against the request; never throws. */
export function verifyGatewayCredential(
  secret: string,
  header: string | undefined,
  method: string,
  path: string,
  now = Date.now(),
  windowMs = GATEWAY_AUTH_WINDOW_MS,
): CredentialCheck {
  return checkCredential(header, method, path, now, windowMs, (at) => mac(secret, method, path, at));
}

/**
 * Strict: the time in decimal without leading zeros (as `signGatewayRequest` writes it), so a header
 * has one spelling only (break-gateway finding 3: `v1.000<ms>.<mac>` was accepted).
 */
const CREDENTIAL = /^v1\.(0|[1-9]\d{0,15})\.([0-9a-f]{64})$/;

function checkCredential(
  header: string | undefined,
  method: string,
  path: string,
  now: number,
  windowMs: number,
  expectedAt: (at: number) => Buffer,
  onOk?: (at: number, expected: Buffer) => void,
): CredentialCheck {
  if (header === undefined || header === "") return "missing";
  const match = CREDENTIAL.exec(header);
  if (!match) return "invalid";
  const at = Number(match[1]);
  const presented = Buffer.from(match[2]!, "hex");
  const expected = expectedAt(at);
  // Both 32 bytes (the regex fixed the length), as timingSafeEqual requires.
  if (!timingSafeEqual(presented, expected)) return "invalid";
  if (Math.abs(now - at) > windowMs) return "expired";
  onOk?.(at, expected);
  return "ok";
}

/** How long the gateway reuses one credential for the same call (method and path + query), ms. */
export const GATEWAY_AUTH_REUSE_MS = 1_000;
/** Calls (gateway) or verified credentials (service) remembered at most; all forgotten beyond. */
const RECENT_LIMIT = 1_024;

/**
 * The gateway's signer for one service: the same header as `signGatewayRequest`, reused for the same
 * method and path for GATEWAY_AUTH_REUSE_MS (issue 14: an HMAC per proxied call on both sides). A
 * reused header is at most that much older when it arrives: well inside the 30 s window, which is
 * what bounds replay (any header could be replayed within it already).
 */
export class GatewayCredentialSigner {
  private readonly recent = new Map<string, { at: number; header: string }>();

  constructor(
    private readonly secret: string,
    private readonly reuseMs = GATEWAY_AUTH_REUSE_MS,
  ) {}

  /** The header for a call at `now` (epoch ms); `fresh`: signed anew, never a reused one. */
  sign(method: string, path: string, now: number, fresh = false): string {
    const key = `${method} ${path}`;
    const hit = this.recent.get(key);
    if (!fresh && hit !== undefined && now >= hit.at && now - hit.at < this.reuseMs) return hit.header;
    if (this.recent.size >= RECENT_LIMIT) this.recent.clear();
    const header = signGatewayRequest(this.secret, method, path, now);
    this.recent.set(key, { at: now, header });
    return header;
  }
}

/**
 * A service's verifier: `verifyGatewayCredential`'s answers, with the expected MAC of a credential
 * that verified remembered by its public parts (time, method, path), so the gateway's reused header
 * is checked without an HMAC. Every check still compares the presented MAC in constant time
 * (`timingSafeEqual`) and checks the window; only credentials that verified are remembered.
 */
export class GatewayCredentialVerifier {
  private readonly verified = new Map<string, Buffer>();

  constructor(
    private readonly secret: string,
    private readonly windowMs = GATEWAY_AUTH_WINDOW_MS,
  ) {}

  verify(header: string | undefined, method: string, path: string, now: number): CredentialCheck {
    // The key is built once; a credential found here is not written back (only new ones are).
    let key = "";
    let remembered = false;
    return checkCredential(
      header,
      method,
      path,
      now,
      this.windowMs,
      (at) => {
        key = `${at} ${method} ${path}`;
        const cached = this.verified.get(key);
        remembered = cached !== undefined;
        return cached ?? mac(this.secret, method, path, at);
      },
      (_at, expected) => {
        if (remembered) return;
        if (this.verified.size >= RECENT_LIMIT) this.verified.clear();
        this.verified.set(key, expected);
      },
    );
  }
}

/**
 * Makes `app` (a service's server) serve only gateway-signed requests, but OPEN_SERVICE_PATHS:
 * no credential is 401 GATEWAY_AUTH_REQUIRED, a wrong or expired one 403 GATEWAY_AUTH_INVALID.
 * Runs first (onRequest), before the body is read, so a refused request did nothing (the gateway
 * may resend it). `resync` (the shared clock's `resync`, rate-limited there): called before a
 * genuine credential is refused as out of its window, which is then checked once more on `now`:
 * after a step of Redis's clock this service may not have followed it yet (clocksync9).
 */
export function installGatewayCredentialCheck(
  app: FastifyInstance,
  secret: string,
  now: () => number = Date.now,
  resync?: () => Promise<void>,
): void {
  const verifier = new GatewayCredentialVerifier(secret);
  app.addHook("onRequest", async (request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    if (OPEN_SERVICE_PATHS.has(path)) return;
    const raw = request.headers[GATEWAY_AUTH_HEADER];
    const header = typeof raw === "string" ? raw : undefined;
    let check = verifier.verify(header, request.method, request.url, now());
    // Only a credential whose MAC verified is "expired": a stranger cannot make this process sync.
    if (check === "expired" && resync !== undefined) {
      await resync();
      check = verifier.verify(header, request.method, request.url, now());
    }
    if (check === "ok") return;
    if (check === "missing") {
      return reply
        .code(401)
        .send(errorBody("GATEWAY_AUTH_REQUIRED", "This port serves the gateway only: call the gateway"));
    }
    return reply
      .code(403)
      .send(errorBody("GATEWAY_AUTH_INVALID", `Gateway credential ${check}: call the gateway`));
  });
}
