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
 *
 * The gateway's proxied calls carry a deadline too (break35 F1): `v2.<unix ms>.<deadline ms>.<hex
 * HMAC-SHA256(secret, "v2\n<METHOD>\n<path+query>\n<ms>\n<deadline ms>")>`, the deadline being the
 * signing time + the attempt's budget + GATEWAY_DEADLINE_MARGIN_MS, on the same shared clock (Redis
 * `TIME`). A service refuses, before handling, a request whose deadline has passed (503
 * `GATEWAY_DEADLINE_PASSED`), and the order placement's write refuses it in its script on Redis's
 * own `TIME`, as do a cancel's, a product add's, a restock's and the user writes' (fixdl): a 504'd
 * write cannot land later on an instance that was stalled (SIGSTOP, GC) while the gateway waited. `v1` headers (no deadline) still verify, as before, so services can be
 * upgraded before the gateway in a rolling deploy (an old service refuses `v2`: upgrade services first).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { AppError, errorBody } from "./errors.js";

export const GATEWAY_AUTH_HEADER = "x-gateway-auth";
/** How far (ms) a credential's timestamp may be from the service's clock, either way. */
export const GATEWAY_AUTH_WINDOW_MS = 30_000;
/**
 * Paths served without the credential: health probes (the gateway's checker, orchestrators) and
 * Prometheus scrapes. They change nothing and reveal no business data (service name, instance id,
 * version, check booleans, counters).
 */
export const OPEN_SERVICE_PATHS: ReadonlySet<string> = new Set(["/health", "/health/live", "/metrics"]);

/**
 * How long (ms) past the end of an attempt's budget a service may still start it: covers the
 * disagreement of the gateway's and the service's views of the shared clock (each within about a
 * second of Redis `TIME`, clock.ts) so a request the gateway still waits for is not refused. The 504
 * states the resulting deadline, after which a late copy can no longer be applied (break35 F1).
 */
export const GATEWAY_DEADLINE_MARGIN_MS = 1_000;

/** `deadline` undefined: a `v1` credential (no deadline); else `v2`. */
const mac = (secret: string, method: string, path: string, at: number, deadline?: number) =>
  createHmac("sha256", secret)
    .update(
      deadline === undefined
        ? `v1\n${method.toUpperCase()}\n${path}\n${at}`
        : `v2\n${method.toUpperCase()}\n${path}\n${at}\n${deadline}`,
    )
    .digest();

/** The header value for one request (`path` with its query string, as sent). */
export function signGatewayRequest(secret: string, method: string, path: string, at = Date.now()): string {
  return `v1.${at}.${mac(secret, method, path, at).toString("hex")}`;
}

/**
 * A `v2` header: signed at `at`, to be started by the service no later than `deadline` (both epoch
 * ms on the shared clock). The service refuses it once its clock is past `deadline` (break35 F1).
 */
export function signGatewayAttempt(
  secret: string,
  method: string,
  path: string,
  at: number,
  deadline: number,
): string {
  return `v2.${at}.${deadline}.${mac(secret, method, path, at, deadline).toString("hex")}`;
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

/**
 * `late`: a genuine `v2` credential whose deadline is before `now` (the gateway gave up on the
 * request: it must not be handled, break35 F1).
 */
export type CredentialCheck = "ok" | "missing" | "invalid" | "expired" | "late";

/** A verified credential's parts: its deadline (epoch ms) when it is a `v2` one. */
export interface VerifiedCredential {
  at: number;
  deadline: number | undefined;
}

/** Checks a presented header against the request; never throws. */
export function verifyGatewayCredential(
  secret: string,
  header: string | undefined,
  method: string,
  path: string,
  now = Date.now(),
  windowMs = GATEWAY_AUTH_WINDOW_MS,
): CredentialCheck {
  return checkCredential(header, method, path, now, windowMs, (at, deadline) =>
    mac(secret, method, path, at, deadline),
  );
}

/**
 * Strict: the time in decimal without leading zeros (as `signGatewayRequest` writes it), so a header
 * has one spelling only (break-gateway finding 3: `v1.000<ms>.<mac>` was accepted).
 */
const CREDENTIAL = /^v1\.(0|[1-9]\d{0,15})\.([0-9a-f]{64})$/;
/** The same for `v2`, with the deadline (ms, same spelling rule) between the time and the MAC. */
const CREDENTIAL_V2 = /^v2\.(0|[1-9]\d{0,15})\.(0|[1-9]\d{0,15})\.([0-9a-f]{64})$/;

function checkCredential(
  header: string | undefined,
  method: string,
  path: string,
  now: number,
  windowMs: number,
  expectedAt: (at: number, deadline: number | undefined) => Buffer,
  onOk?: (verified: VerifiedCredential, expected: Buffer) => void,
): CredentialCheck {
  if (header === undefined || header === "") return "missing";
  const v2 = CREDENTIAL_V2.exec(header);
  const match = v2 ?? CREDENTIAL.exec(header);
  if (!match) return "invalid";
  const at = Number(match[1]);
  const deadline = v2 ? Number(v2[2]) : undefined;
  const presented = Buffer.from(match[v2 ? 3 : 2]!, "hex");
  const expected = expectedAt(at, deadline);
  // Both 32 bytes (the regex fixed the length), as timingSafeEqual requires.
  if (!timingSafeEqual(presented, expected)) return "invalid";
  if (Math.abs(now - at) > windowMs) return "expired";
  // Only a genuine credential is "late" (the MAC verified): a stranger learns nothing more.
  if (deadline !== undefined && now > deadline) return "late";
  onOk?.({ at, deadline }, expected);
  return "ok";
}

/** How long the gateway reuses one credential for the same call (method and path + query), ms. */
export const GATEWAY_AUTH_REUSE_MS = 1_000;
/** Calls (gateway) or verified credentials (service) remembered at most; all forgotten beyond. */
const RECENT_LIMIT = 1_024;

/** One attempt's credential: the header and the deadline (epoch ms, shared clock) it carries. */
export interface SignedAttempt {
  header: string;
  deadline: number;
}

/**
 * The gateway's signer for one service: `v2` headers (`signGatewayAttempt`) whose deadline is
 * `now + budgetMs + GATEWAY_DEADLINE_MARGIN_MS` rounded up to a whole `reuseMs`, reused for the same
 * method, path and deadline for GATEWAY_AUTH_REUSE_MS (issue 14: an HMAC per proxied call on both
 * sides). Rounded up, a reused header's deadline is never earlier than its attempt's own budget
 * needs (break35 F1), and at most `reuseMs` later. A reused header is at most `reuseMs` older when
 * it arrives: well inside the 30 s window, which is what bounds replay.
 */
export class GatewayCredentialSigner {
  private readonly recent = new Map<string, { at: number } & SignedAttempt>();

  constructor(
    private readonly secret: string,
    private readonly reuseMs = GATEWAY_AUTH_REUSE_MS,
    private readonly marginMs = GATEWAY_DEADLINE_MARGIN_MS,
  ) {}

  /**
   * The credential of an attempt starting at `now` (epoch ms, shared clock) with `budgetMs` to run;
   * `fresh`: signed anew, never a reused one.
   */
  sign(method: string, path: string, now: number, budgetMs: number, fresh = false): SignedAttempt {
    const step = Math.max(1, this.reuseMs);
    const deadline = Math.ceil((now + Math.max(0, budgetMs) + this.marginMs) / step) * step;
    const key = `${method} ${path} ${deadline}`;
    const hit = this.recent.get(key);
    if (!fresh && hit !== undefined && now >= hit.at && now - hit.at < this.reuseMs)
      return { header: hit.header, deadline };
    if (this.recent.size >= RECENT_LIMIT) this.recent.clear();
    const header = signGatewayAttempt(this.secret, method, path, now, deadline);
    this.recent.set(key, { at: now, header, deadline });
    return { header, deadline };
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

  /** `onOk`: given the verified credential's parts (its deadline), when the answer is "ok". */
  verify(
    header: string | undefined,
    method: string,
    path: string,
    now: number,
    onOk?: (verified: VerifiedCredential) => void,
  ): CredentialCheck {
    // The key is built once; a credential found here is not written back (only new ones are).
    let key = "";
    let remembered = false;
    return checkCredential(
      header,
      method,
      path,
      now,
      this.windowMs,
      (at, deadline) => {
        key = `${at} ${deadline ?? "-"} ${method} ${path}`;
        const cached = this.verified.get(key);
        remembered = cached !== undefined;
        return cached ?? mac(this.secret, method, path, at, deadline);
      },
      (verified, expected) => {
        onOk?.(verified);
        if (remembered) return;
        if (this.verified.size >= RECENT_LIMIT) this.verified.clear();
        this.verified.set(key, expected);
      },
    );
  }
}

/** The deadline of each request's verified `v2` credential (see `gatewayDeadlineOf`). */
const deadlines = new WeakMap<object, number>();

/**
 * The deadline (epoch ms, shared clock) of the gateway credential `request` was verified with,
 * undefined for a `v1` one or a port without the check. A write that must not land after it passes
 * it to its atomic step (the order placement: `AppendOptions.applyBy`, break35 F1; a cancel, a
 * restock, a product added, a user created, updated or deleted: `applyBy`, `WriteDeadlineError`).
 */
export function gatewayDeadlineOf(request: object): number | undefined {
  return deadlines.get(request);
}

/** The 503 a service answers a genuine credential whose deadline passed: nothing was done. */
export function deadlinePassedBody(deadline?: number) {
  return errorBody(
    "GATEWAY_DEADLINE_PASSED",
    "The gateway's deadline for this request has passed (it gave up on it): not applied",
    deadline === undefined ? undefined : { deadline: new Date(deadline).toISOString() },
  );
}

/**
 * The same 503 as an error to throw from a route whose write refused the request's deadline in its
 * atomic step (`WriteDeadlineError`, `AppendDeadlineError`): nothing was applied.
 */
export function deadlinePassed(deadline?: number): AppError {
  const { error } = deadlinePassedBody(deadline);
  return new AppError(error.code, error.message, error.details);
}

/**
 * Makes `app` (a service's server) serve only gateway-signed requests, but OPEN_SERVICE_PATHS:
 * no credential is 401 GATEWAY_AUTH_REQUIRED, a wrong or expired one 403 GATEWAY_AUTH_INVALID, a
 * genuine one whose deadline passed 503 GATEWAY_DEADLINE_PASSED (break35 F1).
 * Runs first (onRequest), before the body is read, so a refused request did nothing (the gateway
 * may resend it). `resync` (the shared clock's `resync`, rate-limited there): called before a
 * genuine credential is refused as out of its window, which is then checked once more on `now`:
 * after a step of Redis's clock this service may not have followed it yet (clocksync9). `log`: where a
 * refusal past the deadline is written (a warning; Fastify's own request logger is off in services).
 */
export function installGatewayCredentialCheck(
  app: FastifyInstance,
  secret: string,
  now: () => number = Date.now,
  resync?: () => Promise<void>,
  log?: { warn(fields: Record<string, unknown>, message: string): void },
): void {
  const verifier = new GatewayCredentialVerifier(secret);
  app.addHook("onRequest", async (request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    if (OPEN_SERVICE_PATHS.has(path)) return;
    const raw = request.headers[GATEWAY_AUTH_HEADER];
    const header = typeof raw === "string" ? raw : undefined;
    const keep = ({ deadline }: VerifiedCredential) => {
      if (deadline !== undefined) deadlines.set(request, deadline);
    };
    let check = verifier.verify(header, request.method, request.url, now(), keep);
    // Only a credential whose MAC verified is "expired": a stranger cannot make this process sync.
    if (check === "expired" && resync !== undefined) {
      await resync();
      check = verifier.verify(header, request.method, request.url, now(), keep);
    }
    if (check === "ok") return;
    // No re-sync: a clock behind would only accept it (the writes then check Redis's TIME),
    // and the gateway has given up on it anyway.
    if (check === "late") {
      // Rare (a stalled instance, or clocks apart by more than the margin): worth a line.
      log?.warn(
        { method: request.method, route: request.routeOptions.url ?? "unmatched" },
        "refused a gateway call past its deadline (not applied: break35 F1)",
      );
      return reply.code(503).send(deadlinePassedBody());
    }
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
