/**
 * Forwards a request to one healthy instance of a service (when none can take it, to a live one
 * marked unhealthy: panic routing, see pickUntried): instances come from the registry through a
 * short-lived cache (no registry round trip per request), are taken in turn, each behind its own
 * circuit breaker, and every call has a time budget. A request that provably never left (the
 * connection could not be opened, a draining server or a credential check refused it before any
 * handler ran) goes to the next instance; so does any failed request that is safe to repeat
 * (`retrySafe`: GET, HEAD, PUT, DELETE, or a POST with an Idempotency-Key to a route that honours
 * it). Anything else that failed after it may have been applied is answered 502
 * UPSTREAM_OUTCOME_UNKNOWN, never resent.
 *
 * What one gateway sees of an instance (a timeout, a refusal of its credential) is kept here (the
 * breaker and a short avoid-list), never written into the shared registry: a slow answer is no
 * proof of death, and one gateway's own slowness must not stop every gateway routing to a live
 * instance (break17 F2). Only a refused connection is reported (`onInstanceDown`); the health
 * checker, which probes, decides the rest.
 */
import { type Span, SpanStatusCode } from "@opentelemetry/api";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from "@opentelemetry/semantic-conventions";
import { Agent } from "undici";
import { injectHeaders, SpanKind, tracingEnabled, withSpan } from "../lib/observability/spans.js";
import { DiscoveryClient } from "../lib/discovery/client.js";
import { DiscoveryError } from "../lib/discovery/errors.js";
import type { DiscoveryLogger, ServiceInstance, ServiceRegistry } from "../lib/discovery/types.js";
import { AppError, errorBody } from "../lib/http/errors.js";
import { REPLAYED_HEADER } from "../lib/http/idempotency-key.js";
import {
  GATEWAY_AUTH_HEADER,
  serviceCredentialSecret,
  GatewayCredentialSigner,
} from "../lib/http/gateway-credential.js";
import { CircuitBreaker, type CircuitStateChange } from "../lib/resilience/circuit-breaker.js";
import { CircuitOpenError, TimeoutError } from "../lib/resilience/errors.js";
import { AvoidList } from "./avoid-list.js";
import { InFlightLimit } from "./in-flight-limit.js";
import { callUpstream, DEFAULT_MAX_BODY_BYTES, UpstreamBodyTooLargeError } from "./upstream-call.js";
import { monotonicNow } from "../lib/resilience/monotonic.js";
import {
  errorCode,
  hasErrorShape,
  isDrainingResponse,
  isIdempotentMethod,
  isSafeMethod,
  errorCodeOf,
  neverReached,
  REQUEST_SCOPED_CODES,
} from "./upstream-errors.js";

export interface GatewayBreakerOptions {
  /** Consecutive failures that open an instance's breaker (default 5). */
  failureThreshold?: number;
  /** Successful trial calls that close it again (default 2). */
  successThreshold?: number;
  /** Milliseconds open before a trial call (default 10 000). */
  resetTimeoutMs?: number;
}

export interface ProxyOptions {
  registry: ServiceRegistry;
  /** Budget of one attempt, headers and body (default 10 000 ms). */
  timeoutMs?: number;
  /**
   * Budget of an attempt on an instance whose registry lease cannot be verified (the registry is
   * unreachable and the last known list is used): default the smaller of 2 000 ms and `timeoutMs`.
   * Such an instance is still tried (it may serve), but a client learns within this budget that the
   * system is degraded: a request that timed out is resent elsewhere when that is safe, else
   * answered 504 UPSTREAM_TIMEOUT (it may have been applied: break17 F6).
   */
  unverifiedTimeoutMs?: number;
  /**
   * How long an instance that timed out or refused the gateway's credential is skipped by this
   * gateway while another can be tried (ms, default 3 000). When every instance is skipped (avoided
   * or breaker open), the one that failed longest ago is tried rather than answering 503 at once;
   * when no healthy one can be, so is a live one marked unhealthy (panic routing, see pickUntried).
   */
  avoidMs?: number;
  /** Instances tried for one request at most (default 3). */
  maxAttempts?: number;
  /** How long the list of instances is reused before the registry is read again (default 1 000 ms). */
  discoveryCacheTtlMs?: number;
  /**
   * Largest answer body read from an instance (default DEFAULT_MAX_BODY_BYTES); a larger one is
   * abandoned there and answered 502 UPSTREAM_BODY_TOO_LARGE.
   */
  maxBodyBytes?: number;
  /**
   * Keep-alive connections per instance (default 128), and calls in flight to one instance at most:
   * the others wait at the proxy, where one that runs out of budget is answered 504 and dropped,
   * never dispatched (see InFlightLimit).
   */
  connectionsPerInstance?: number;
  breaker?: GatewayBreakerOptions;
  /**
   * The master secret: a call to a service is signed with that service's secret derived from it
   * (`X-Gateway-Auth`, see gateway-credential.ts); unset: calls go unsigned (services without a
   * secret serve them).
   */
  sharedSecret?: string;
  /**
   * Epoch ms the `X-Gateway-Auth` credential is dated with: the platform's shared clock (Redis
   * `TIME` on Redis), the one services check its replay window on (DESIGN §6: a gateway host off by
   * more than the window had every call refused 403). Also dates breaker changes. Default `Date.now`.
   */
  signingClock?: () => number;
  /**
   * Forces a re-sync of `signingClock` (the shared clock's `resync`, rate-limited there). Given, a
   * call a service refused 403 GATEWAY_AUTH_INVALID is re-signed after it and sent once more to the
   * same instance: after a step of Redis's clock, the gateway may not have followed it yet. Safe for
   * any method: services refuse a credential before reading the request (gateway-credential.ts).
   */
  resyncSigningClock?: () => Promise<void>;
  onBreakerChange?: (change: CircuitStateChange) => void;
  /**
   * An instance refused the connection (nothing listens at its address): the gateway marks it
   * unhealthy at once (passive health), instead of routing to it until the next health check round.
   * Not called for a timeout or an open breaker: those are kept local (see the file's docstring).
   */
  onInstanceDown?: (instance: ServiceInstance, detail: string) => void;
  /** Called with a breaker's name when `retain` drops it (its metrics label sets can go too). */
  onBreakerDropped?: (breaker: string) => void;
  /** Called with a new breaker's name (closed): its state series exists before any change. */
  onBreakerCreated?: (breaker: string) => void;
  logger?: DiscoveryLogger;
  /**
   * Ms on a monotonic source (default `monotonicNow`): the one clock of budgets, breakers, the
   * discovery cache and the avoid-list. Never a wall clock (break22 F1: a step back froze them).
   */
  monotonicNow?: () => number;
}

export interface UpstreamRequest {
  method: string;
  /** Path and query, already encoded. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * True when applying the request twice has the effect of applying it once, so a failed attempt
   * may be resent to another instance. Default: the method is idempotent (GET, HEAD, PUT, DELETE).
   */
  retrySafe?: boolean;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

type AttemptOutcome =
  | { kind: "answered"; response: UpstreamResponse }
  | {
      kind: "failed";
      retry: boolean;
      error: AppError;
      response?: UpstreamResponse;
      /** The request reached the instance, which may have applied it (connection broke after sending). */
      ambiguous?: boolean;
      /** The attempt's time budget ran out. */
      timedOut?: boolean;
    };

interface InstanceSlot {
  origin: string;
  breaker: CircuitBreaker;
  /** Calls in flight to the instance, at most its connections (the rest wait their turn here). */
  limit: InFlightLimit;
  /** Its key in the avoid-list (see AvoidList). */
  key: string;
  /** Epoch ms of the last warning that it refused the gateway's credential (throttle). */
  credentialWarnedAt: number;
}

/** How often (ms) an instance refusing the gateway's credential is logged at most. */
const CREDENTIAL_WARN_INTERVAL_MS = 60_000;

/** Response headers worth handing back to the client; hop-by-hop and server details stay behind. */
const PASSED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  "content-type",
  "location",
  "retry-after",
  "etag",
  REPLAYED_HEADER,
  "idempotency-key",
  "x-correlation-id",
  // For a HEAD answer only (relayAnswer drops it from any other: Fastify sets the length of the body
  // it sends): the length of the body GET would get, which a HEAD answer carries (RFC 9110 §9.3.2).
  "content-length",
]);

/**
 * A 5xx answer, thrown inside the breaker so it counts as a failure of the instance (except a
 * request-scoped one, see REQUEST_SCOPED_CODES, which is returned as answered).
 */
class UpstreamStatusError extends Error {
  constructor(readonly response: UpstreamResponse) {
    super(`upstream answered ${response.status}`);
    this.name = "UpstreamStatusError";
  }
}

/**
 * The instance refused the gateway's credential (403 GATEWAY_AUTH_INVALID) after a re-signed resend
 * too: thrown inside the breaker (it counts against the instance). It refused before reading the
 * request, so the request goes to another instance (break17 F1).
 */
class CredentialRefusedError extends Error {
  constructor() {
    super("instance refused the gateway's credential");
    this.name = "CredentialRefusedError";
  }
}

export class UpstreamProxy {
  readonly discovery: DiscoveryClient;
  private readonly agent: Agent;
  private readonly slots = new Map<string, InstanceSlot>();
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly unverifiedTimeoutMs: number;
  /** What this gateway saw of instances failing it: skipped a while, forced trials (AvoidList). */
  private readonly avoided: AvoidList;
  /** How long an instance is skipped after a timeout, and trusted after an answer (ms; ProxyOptions.avoidMs). */
  private readonly avoidMs: number;
  private readonly maxBodyBytes: number;
  private readonly connections: number;
  private readonly options: ProxyOptions;
  /** The one clock of local durations (`monotonicNow`); dates come from `signingClock`. */
  private readonly now: () => number;

  constructor(options: ProxyOptions) {
    this.options = options;
    this.now = options.monotonicNow ?? monotonicNow;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.unverifiedTimeoutMs = Math.min(options.unverifiedTimeoutMs ?? 2_000, this.timeoutMs);
    this.avoidMs = options.avoidMs ?? 3_000;
    this.avoided = new AvoidList({ avoidMs: this.avoidMs, monotonicNow: this.now });
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.connections = options.connectionsPerInstance ?? 128;
    this.agent = new Agent({
      connections: this.connections,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      connect: { timeout: Math.min(this.timeoutMs, 5_000) },
    });
    this.discovery = new DiscoveryClient({
      registry: options.registry,
      cacheTtlMs: options.discoveryCacheTtlMs ?? 1_000,
      // Round robin skips an instance whose breaker is open or that this gateway avoids for now.
      breakerFor: (instance) => {
        const slot = this.slot(instance);
        return { canExecute: () => !this.avoided.isAvoided(slot.key) && slot.breaker.canExecute() };
      },
      ...(options.logger ? { logger: options.logger } : {}),
      monotonicNow: this.now,
    });
  }

  /** The breaker guarding one instance (one per service, instance id and address). */
  breakerFor(instance: ServiceInstance): CircuitBreaker {
    return this.slot(instance).breaker;
  }

  /**
   * Sends the request to an instance of `service`; throws AppError 503 when no instance was tried
   * (none registered, or each with a forced trial in flight), 504 UPSTREAM_TIMEOUT when an attempt
   * timed out and none answered.
   */
  async forward(service: string, request: UpstreamRequest): Promise<UpstreamResponse> {
    const tried = new Set<string>();
    let last: Extract<AttemptOutcome, { kind: "failed" }> | undefined;
    let mayHaveApplied = false;
    // One budget for the whole request: a retry after a timeout fits in it (see attemptBudget).
    const deadline = this.now() + this.timeoutMs;
    /** The budgets (ms) of the attempts that timed out, for a 504 that states them (newuser8 L2). */
    const timedOutAfter: number[] = [];
    /** An attempt timed out on an instance whose lease could not be verified (registry down). */
    let unverifiedTimeout = false;
    /** A state-changing request an instance had and did not answer (reset, or timed out). */
    const unansweredWrite = () =>
      !isSafeMethod(request.method) && (mayHaveApplied || timedOutAfter.length > 0);
    while (tried.size < this.maxAttempts) {
      const picked = await this.pickUntried(service, tried).catch((error: unknown) => {
        if (!(error instanceof DiscoveryError)) throw error;
        // A write already sent and unanswered ends below, saying it may have been applied.
        if (unansweredWrite()) return undefined;
        // Registry unreadable and nothing cached: the documented 503, not a 500.
        throw new AppError(
          "SERVICE_UNAVAILABLE",
          `Cannot find instances of "${service}"; retry shortly`,
          { service },
          true,
        );
      });
      if (!picked) break;
      const { instance, forced } = picked;
      tried.add(instance.instanceId);
      const safe = resendableAfterTimeout(request);
      const remaining = deadline - this.now();
      if (remaining <= 0) break;
      // A safe request keeps half its budget for one resend elsewhere should this instance freeze.
      const spare = safe && timedOutAfter.length === 0 && (await this.hasAnotherInstance(service, tried));
      const full = spare ? Math.max(1, Math.floor(remaining / 2)) : remaining;
      const unverified = this.discovery.unverified(service);
      const budget = unverified ? Math.min(full, this.unverifiedTimeoutMs) : full;
      // Registry down: the short budget tells a client within it that the system is degraded. A
      // timeout then is handled as any other (break17 F2/F6): resent elsewhere when safe, never a
      // mark in the shared registry, and a 504 that says the request may have been applied.
      const outcome = await this.attempt(instance, request, budget, forced);
      if (outcome.kind === "answered") return settleRetry(request, outcome.response, mayHaveApplied);
      last = outcome;
      mayHaveApplied ||= outcome.ambiguous === true;
      if (outcome.timedOut) {
        timedOutAfter.push(budget);
        unverifiedTimeout ||= unverified;
        if (safe && timedOutAfter.length === 1) continue;
      }
      if (!outcome.retry) break;
    }
    // A write an instance had and did not answer may have been applied: whatever ended the request
    // after it (no other instance, attempts or budget used up, a breaker, a failed resend), the
    // answer says so (break19 F2: a keyed POST /orders whose resend found no other instance was
    // 502 BAD_GATEWAY, which reads as "not applied"; the order existed). A 504 if one timed out.
    const until = this.applicableUntil.get(request);
    if (unansweredWrite()) {
      if (timedOutAfter.length > 0) throw upstreamTimeout(service, timedOutAfter, request, until);
      return outcomeUnknown(service, request, until);
    }
    if (last?.response) return last.response;
    // An attempt ran out of its budget and no instance answered: 504 naming the budgets, whatever
    // failed after it (a resend refused by a dead instance was a 503 that hid the wait, and for a
    // keyed POST that the frozen instance may still apply it).
    if (timedOutAfter.length > 0) {
      // A read changed nothing: while the registry is down "degraded, retry shortly" is its truth.
      if (unverifiedTimeout && isSafeMethod(request.method)) throw unverifiedUnavailable(service);
      throw upstreamTimeout(service, timedOutAfter, request, until);
    }
    if (last) throw last.error;
    throw new AppError(
      "SERVICE_UNAVAILABLE",
      `No healthy instance of "${service}" can serve the request`,
      { service },
      true,
    );
  }

  /** A GET to one instance, for health reports; same pool and connections as proxied calls. */
  async get(instance: ServiceInstance, path: string, timeoutMs: number): Promise<UpstreamResponse> {
    return this.exchange(
      this.slot(instance),
      instance.service,
      { method: "GET", path, headers: {} },
      timeoutMs,
    );
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * Another live instance a resend could go to (see pickUntried): healthy or, for want of one,
   * marked unhealthy.
   */
  private async hasAnotherInstance(service: string, tried: ReadonlySet<string>): Promise<boolean> {
    const live = await this.discovery.liveInstances(service).catch(() => []);
    return live.some((i) => !tried.has(i.instanceId));
  }

  /**
   * The next untried healthy instance in turn that is neither avoided nor behind an open breaker;
   * when every untried one is, the one that failed longest ago, `forced` (tried past its breaker): a
   * slowdown that made this gateway avoid every instance must not turn into 503s while they may serve
   * (break17 F2: the last instance of a service, slow under load, was 503 for 20 s). One forced trial
   * per instance at a time: requests meanwhile get the 503 (break18 F3).
   *
   * Panic routing: when no healthy instance can take the request (none, all tried, or each with a
   * forced trial in flight), the live instances marked unhealthy get forced trials the same way, the
   * one that failed longest ago first. Envoy's "panic threshold" (envoyproxy.io, load balancing)
   * disregards health and balances over all hosts below a share of healthy ones (50% by default);
   * here that share is zero, and the marked ones are only tried. Their lease is current (the process
   * renews it), and a failed health check may lag their recovery or reflect this host's load
   * (newuser13 F8: the one instance of a service, frozen 7 s, was refused 503 for up to 3.8 s after
   * it was back, until the next check passed). A healthy instance is always preferred; as forced
   * trials, one at a time per instance, a truly broken one gets one request at a time from this
   * gateway (the others meanwhile 503), never a flood.
   */
  private async pickUntried(
    service: string,
    tried: ReadonlySet<string>,
  ): Promise<{ instance: ServiceInstance; forced: boolean } | undefined> {
    const healthy = await this.discovery.healthyInstances(service);
    // pick() advances the round-robin cursor, so `count` picks visit every instance once.
    for (let i = 0; i < healthy.length; i++) {
      const candidate = await this.discovery.pick(service);
      if (!candidate) break;
      if (!tried.has(candidate.instanceId)) return { instance: candidate, forced: false };
    }
    const untried = healthy.filter((instance) => !tried.has(instance.instanceId));
    const fallback = this.avoided.leastRecentlyFailed(untried, slotKey);
    if (fallback) return { instance: fallback, forced: true };
    const marked = (await this.discovery.liveInstances(service)).filter(
      (instance) => instance.status === "unhealthy" && !tried.has(instance.instanceId),
    );
    // One that answered this gateway lately (a trial succeeded, nothing failed since) serves: it
    // takes requests as a healthy one does, not one at a time, until its mark is lifted or it fails
    // (else, while the only instance stayed marked, all but one request at a time got 503).
    const serving = marked.find((instance) => this.avoided.answeredLately(slotKey(instance), this.avoidMs));
    if (serving) return { instance: serving, forced: false };
    const panic = this.avoided.leastRecentlyFailed(marked, slotKey);
    return panic && { instance: panic, forced: true };
  }

  private async attempt(
    instance: ServiceInstance,
    request: UpstreamRequest,
    budgetMs: number,
    forced = false,
  ): Promise<AttemptOutcome> {
    const slot = this.slot(instance);
    const { breaker } = slot;
    let tooLarge = false;
    // A forced trial of an instance whose breaker is open runs past it; its success closes it.
    const bypass = forced && !breaker.canExecute();
    if (forced) this.avoided.beginTrial(slot.key);
    const guarded = <T>(call: () => Promise<T>): Promise<T> =>
      bypass
        ? call().then((result) => {
            breaker.reset();
            return result;
          })
        : breaker.execute(call);
    let deadlineRefused = false;
    try {
      const response = await guarded(async () => {
        const answer = await this.exchange(slot, instance.service, request, budgetMs).catch(
          (error: unknown) => {
            // The instance answered, too much: it works (no breaker failure), and another instance
            // would answer the same (no resend). A request it handled is not repeated either.
            if (!(error instanceof UpstreamBodyTooLargeError)) throw error;
            tooLarge = true;
            return bodyTooLarge(instance.service, error.maxBodyBytes);
          },
        );
        if (tooLarge) return answer;
        const code = codeOf(answer);
        if (answer.status === 403 && code === "GATEWAY_AUTH_INVALID") throw new CredentialRefusedError();
        // Refused unapplied as past the gateway's own deadline: a clock matter, not the instance's fault.
        deadlineRefused = answer.status === 503 && code === "GATEWAY_DEADLINE_PASSED";
        if (deadlineRefused) return answer;
        // A deliberate "busy / not now for this request" answer is the instance working: not a failure.
        const requestScoped = code !== undefined && REQUEST_SCOPED_CODES.has(code);
        if (answer.status >= 500 && !requestScoped) throw new UpstreamStatusError(answer);
        return answer;
      });
      this.avoided.answered(slot.key);
      if (deadlineRefused) return { kind: "failed", retry: true, error: deadlinePassed(instance.service) };
      return { kind: "answered", response };
    } catch (error) {
      this.noteFailure(slot, instance, error);
      return this.classify(instance, request, error, budgetMs);
    } finally {
      if (forced) this.avoided.endTrial(slot.key);
    }
  }

  /**
   * Keeps what this attempt showed of the instance: its time of failure, a short avoidance after a
   * timeout or a credential refusal, a throttled warning for the latter. Only a refused connection
   * (nothing listens there) is reported as down; a connect timeout may be this host's own load.
   */
  private noteFailure(slot: InstanceSlot, instance: ServiceInstance, error: unknown): void {
    if (error instanceof CircuitOpenError) return;
    const avoid = error instanceof TimeoutError || error instanceof CredentialRefusedError;
    this.avoided.failed(slot.key, { avoid });
    const now = this.now();
    if (
      error instanceof CredentialRefusedError &&
      now - slot.credentialWarnedAt >= CREDENTIAL_WARN_INTERVAL_MS
    ) {
      slot.credentialWarnedAt = now;
      this.options.logger?.warn(
        { service: instance.service, instanceId: instance.instanceId, origin: slot.origin },
        `instance ${instance.instanceId} of "${instance.service}" refuses the gateway's credential: its GATEWAY secret differs?`,
      );
    }
    if (neverReached(error) && errorCode(error) !== "UND_ERR_CONNECT_TIMEOUT") {
      this.options.onInstanceDown?.(instance, "connection refused");
    }
  }

  private classify(
    instance: ServiceInstance,
    request: UpstreamRequest,
    error: unknown,
    budgetMs: number,
  ): AttemptOutcome {
    const idempotent = request.retrySafe ?? isIdempotentMethod(request.method);
    const service = instance.service;
    if (error instanceof UpstreamStatusError) {
      const { response } = error;
      if (request.method === "HEAD" && response.body.length === 0) {
        // A HEAD answer has no body to tell an error shape or a draining instance by (RFC 9110
        // §9.3.2): a 503 is tried elsewhere like a draining one, any other status passed on as it came.
        if (response.status === 503) return { kind: "failed", retry: true, error: unavailable(service) };
        return { kind: "failed", retry: idempotent, error: unavailable(service), response };
      }
      if (isDrainingResponse(response.status, response.body)) {
        return { kind: "failed", retry: true, error: unavailable(service) };
      }
      const passed = hasErrorShape(response.body, response.headers["content-type"])
        ? response
        : badGateway(`"${service}" answered ${response.status}`);
      return { kind: "failed", retry: idempotent, error: unavailable(service), response: passed };
    }
    if (error instanceof TimeoutError) {
      // Not resent here; forward() resends a safe request once, within the same overall budget.
      const timeout = upstreamTimeout(service, [budgetMs]);
      return { kind: "failed", retry: false, error: timeout, timedOut: true };
    }
    if (error instanceof CredentialRefusedError) {
      // Refused before it read the request: another instance may take it, whatever the method.
      return { kind: "failed", retry: true, error: credentialRefused(service) };
    }
    if (error instanceof CircuitOpenError || neverReached(error)) {
      return { kind: "failed", retry: true, error: unavailable(service) };
    }
    this.options.logger?.warn(
      { err: error, service, instanceId: instance.instanceId, retrySafe: idempotent },
      "upstream call failed",
    );
    return {
      kind: "failed",
      retry: idempotent,
      ambiguous: true,
      error: unavailable(service),
      // A read changed nothing; for a write forward() answers UPSTREAM_OUTCOME_UNKNOWN (unansweredWrite).
      response: badGateway(`"${service}" failed while answering`),
    };
  }

  private readonly signers = new Map<string, GatewayCredentialSigner>();

  /**
   * What signs calls to `service`: its secret, derived from the master (one per service), with a
   * header reused for the same call within GATEWAY_AUTH_REUSE_MS. None without a master.
   */
  private signerFor(service: string): GatewayCredentialSigner | undefined {
    const master = this.options.sharedSecret;
    if (master === undefined) return undefined;
    let signer = this.signers.get(service);
    if (signer === undefined)
      this.signers.set(
        service,
        (signer = new GatewayCredentialSigner(serviceCredentialSecret(master, service))),
      );
    return signer;
  }

  /**
   * Drops the breakers and origins of instances no longer registered, and creates those of the
   * registered ones not called yet (a healthy system shows every breaker, closed: break13 F11).
   */
  retain(live: readonly ServiceInstance[]): void {
    const keep = new Set(live.map(slotKey));
    for (const [key, slot] of this.slots) {
      if (keep.has(key)) continue;
      this.slots.delete(key);
      this.avoided.forget(key);
      this.options.onBreakerDropped?.(slot.breaker.name);
    }
    for (const instance of live) this.slot(instance);
  }

  /**
   * One call to one instance, within `budgetMs`; once more, freshly signed after a re-sync of the
   * signing clock, when the instance refused its credential (`resyncSigningClock`).
   */
  private async exchange(
    slot: InstanceSlot,
    service: string,
    request: UpstreamRequest,
    budgetMs: number,
  ): Promise<UpstreamResponse> {
    const resync = this.options.resyncSigningClock;
    if (resync === undefined || this.options.sharedSecret === undefined) {
      return this.exchangeOnce(slot, service, request, budgetMs, false);
    }
    const started = this.now();
    const answer = await this.exchangeOnce(slot, service, request, budgetMs, false);
    if (!isCredentialRefusal(answer)) return answer;
    // The service refused before it read the request: it did nothing, so a resend is safe. It
    // re-synced its own clock before refusing; ours may be the one that has not followed a step.
    await resync();
    const left = Math.max(1, budgetMs - (this.now() - started));
    return this.exchangeOnce(slot, service, request, left, true);
  }

  private exchangeOnce(
    slot: InstanceSlot,
    service: string,
    request: UpstreamRequest,
    budgetMs: number,
    fresh: boolean,
  ): Promise<UpstreamResponse> {
    // Tracing off (the default): no span, and none of its attributes computed per call.
    if (!tracingEnabled()) return this.send(slot, service, request, budgetMs, undefined, fresh);
    const { origin } = slot;
    const url = new URL(origin);
    // A CLIENT span per attempt, inside the gateway's request span only (background probes stay
    // out of traces); its context goes upstream as `traceparent`.
    return withSpan(
      request.method,
      {
        kind: SpanKind.CLIENT,
        needParent: true,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_SERVER_ADDRESS]: url.hostname,
          [ATTR_SERVER_PORT]: Number(url.port),
          [ATTR_URL_FULL]: `${origin}${request.path.split("?")[0] ?? ""}`,
        },
      },
      (span) => this.send(slot, service, request, budgetMs, span, fresh),
    );
  }

  private async send(
    slot: InstanceSlot,
    service: string,
    request: UpstreamRequest,
    budgetMs: number,
    span: Span | undefined,
    fresh: boolean,
  ): Promise<UpstreamResponse> {
    const { origin, limit } = slot;
    let budget = budgetMs;
    if (!limit.tryAcquire()) {
      // Every connection busy: wait here (TimeoutError, never dispatched, if the budget runs out).
      const waitFrom = this.now();
      await limit.wait(budgetMs);
      budget = Math.max(1, budgetMs - (this.now() - waitFrom));
    }
    let outgoing: Record<string, string>;
    try {
      outgoing = this.outgoingHeaders(service, request, budget, span, fresh);
    } catch (error) {
      limit.release();
      throw error;
    }
    const answer = await callUpstream(
      this.agent,
      { origin, path: request.path, method: request.method, headers: outgoing, body: request.body },
      budget,
      PASSED_RESPONSE_HEADERS,
      this.maxBodyBytes,
      // The place is held until undici is done with the request, not just until it settled here.
      () => limit.release(),
    );
    span?.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, answer.status);
    if (answer.status >= 500) span?.setStatus({ code: SpanStatusCode.ERROR });
    return answer;
  }

  /**
   * The request's headers, signed for `service` (and with the trace context when traced); `fresh`:
   * a new credential, not one reused from the last second's calls.
   */
  private outgoingHeaders(
    service: string,
    request: UpstreamRequest,
    budgetMs: number,
    span: Span | undefined,
    fresh: boolean,
  ): Record<string, string> {
    const signer = this.signerFor(service);
    const outgoing: Record<string, string> = { ...request.headers };
    if (signer !== undefined) {
      // Signed per attempt with this attempt's budget: the service refuses it after the deadline.
      const now = (this.options.signingClock ?? Date.now)();
      const signed = signer.sign(request.method, request.path, now, budgetMs, fresh);
      outgoing[GATEWAY_AUTH_HEADER] = signed.header;
      this.applicableUntil.set(request, Math.max(this.applicableUntil.get(request) ?? 0, signed.deadline));
    }
    if (span) injectHeaders(outgoing);
    return outgoing;
  }

  /**
   * The latest deadline (epoch ms, shared clock) of the credentials a request was sent with: after
   * it no service applies it (break35 F1). Absent when calls go unsigned (no shared secret).
   */
  private readonly applicableUntil = new WeakMap<UpstreamRequest, number>();

  private slot(instance: ServiceInstance): InstanceSlot {
    const key = slotKey(instance);
    let slot = this.slots.get(key);
    if (!slot) {
      const host = instance.address.includes(":") ? `[${instance.address}]` : instance.address;
      const b = this.options.breaker ?? {};
      slot = {
        key,
        origin: `http://${host}:${instance.port}`,
        breaker: new CircuitBreaker({
          name: `${instance.service}:${instance.instanceId}`,
          failureThreshold: b.failureThreshold ?? 5,
          successThreshold: b.successThreshold ?? 2,
          timeout: b.resetTimeoutMs ?? 10_000,
          monotonicNow: this.now,
          clock: this.options.signingClock ?? Date.now,
          ...(this.options.onBreakerChange ? { onStateChange: this.options.onBreakerChange } : {}),
        }),
        limit: new InFlightLimit(this.connections),
        credentialWarnedAt: Number.NEGATIVE_INFINITY,
      };
      this.slots.set(key, slot);
      this.options.onBreakerCreated?.(slot.breaker.name);
    }
    return slot;
  }
}

/**
 * May a timed-out attempt be abandoned and the request sent to another instance? GET and HEAD
 * change nothing. A POST marked `retrySafe` carries an Idempotency-Key its service deduplicates by
 * in its shared store (POST /orders, restock): when the frozen instance wakes, its copy finds the
 * key and replays the one result (newuser8 L1). PUT and DELETE are not: a late copy would apply
 * after the resend and could undo a later write.
 */
function resendableAfterTimeout(request: UpstreamRequest): boolean {
  return isSafeMethod(request.method) || isKeyedPost(request);
}

/**
 * 504 naming the budgets the attempts really had (a first attempt gets half of UPSTREAM_TIMEOUT_MS
 * when another instance can take a resend; 2 s while the registry is down), not the configured total.
 * For a request that changes state it says the outcome is unknown (the instance had it and may
 * apply it), and, when it carries an Idempotency-Key, that a resend with the same key is safe
 * (break17 F6: such writes were answered 503 "retry shortly" and then applied).
 */
function upstreamTimeout(
  service: string,
  budgetsMs: readonly number[],
  request?: UpstreamRequest,
  applicableUntil?: number,
): AppError {
  const [first] = budgetsMs;
  const message =
    budgetsMs.length <= 1
      ? `"${service}" did not answer within ${first ?? 0} ms`
      : `"${service}" did not answer: attempts on ${budgetsMs.length} instances timed out after ${budgetsMs
          .map((ms) => `${ms} ms`)
          .join(" and ")}`;
  if (request === undefined || isSafeMethod(request.method)) return new AppError("UPSTREAM_TIMEOUT", message);
  const keyed = isKeyedPost(request);
  const until = applicableUntil === undefined ? undefined : new Date(applicableUntil).toISOString();
  const outcome = keyed
    ? "; the request may or may not have been applied: resending it with the same Idempotency-Key is safe (applied at most once)"
    : `; the request may or may not have been applied${lateApplyAdvice(until)}`;
  return new AppError("UPSTREAM_TIMEOUT", message + outcome, {
    service,
    outcome: "unknown",
    ...(until === undefined ? {} : { applicableUntil: until }),
    ...(keyed ? { resendWithSameIdempotencyKey: "safe" } : {}),
  });
}

/**
 * What a client may do about an unkeyed write whose outcome is unknown (break35 F1): with the
 * latest deadline its credentials carried (ISO), the instance that has it can apply it until then
 * and no later (services refuse it after it), so a check after that time is conclusive. Without
 * one (calls unsigned: no GATEWAY_SHARED_SECRET) nothing bounds a late copy.
 */
function lateApplyAdvice(until: string | undefined): string {
  if (until === undefined) return ": check the resource's state before sending it again";
  return (
    `: it can still be applied until ${until}, never after (services refuse it past that time), ` +
    "so check the resource's state after that time before sending it again (a check after that time " +
    "is conclusive), or send it with an Idempotency-Key where the route honours one"
  );
}

/**
 * A DELETE resent after an attempt that may have applied it (review finding 6): the resend's 404
 * NOT_FOUND most likely means the first attempt deleted the resource, so the client gets the
 * outcome it asked for, 204, rather than a 404 that reads as "it never existed". (DELETE of a missing
 * resource is a success in HTTP's idempotent sense too.) Other answers pass unchanged.
 */
function settleRetry(
  request: UpstreamRequest,
  response: UpstreamResponse,
  mayHaveApplied: boolean,
): UpstreamResponse {
  if (!mayHaveApplied || request.method !== "DELETE" || response.status !== 404) return response;
  return { status: 204, headers: {}, body: Buffer.alloc(0) };
}

const slotKey = (i: ServiceInstance) => `${i.service}|${i.instanceId}|${i.address}|${i.port}`;

/** The answer's error code (upstream-errors.ts errorCodeOf). */
const codeOf = (answer: UpstreamResponse) =>
  errorCodeOf(answer.status, answer.body, answer.headers["content-type"]);

/** A service's 403 GATEWAY_AUTH_INVALID: it refused the credential, before reading the request. */
function isCredentialRefusal(response: UpstreamResponse): boolean {
  return response.status === 403 && codeOf(response) === "GATEWAY_AUTH_INVALID";
}

/**
 * An instance got the request after the deadline this gateway signed (the two disagree about the
 * shared clock by more than GATEWAY_DEADLINE_MARGIN_MS) and refused it: nothing was applied.
 */
function deadlinePassed(service: string): AppError {
  return new AppError(
    "UPSTREAM_TIMEOUT",
    `"${service}" received the request after the gateway's deadline and refused it: not applied; send it again`,
    { service, outcome: "not_applied" },
  );
}

/** A GET/HEAD the silent instances of a service with an unverifiable registry did not answer. */
function unverifiedUnavailable(service: string): AppError {
  return new AppError(
    "SERVICE_UNAVAILABLE",
    `Service "${service}" did not answer and its registration cannot be verified (registry unreachable); retry shortly`,
    { service },
    true,
  );
}

/** Every instance tried refused the gateway's credential: the gateway's fault, never the client's. */
function credentialRefused(service: string): AppError {
  return new AppError(
    "BAD_GATEWAY",
    `Every instance of "${service}" tried refused the gateway's credential (their GATEWAY secret differs?)`,
    { service },
  );
}

/** 503 with Retry-After: retryable (newuser9 F7: it was logged retryable:false). */
function unavailable(service: string): AppError {
  return new AppError(
    "SERVICE_UNAVAILABLE",
    `Service "${service}" is unavailable; retry shortly`,
    { service },
    true,
  );
}

/**
 * The connection failed after the request was sent: the instance may have applied it. Resending it
 * could apply it twice, so the client decides, with the means to do it safely.
 */
function outcomeUnknown(
  service: string,
  request: UpstreamRequest,
  applicableUntil?: number,
): UpstreamResponse {
  const failed = `"${service}" failed after receiving the request, which may or may not have been applied`;
  const until = applicableUntil === undefined ? undefined : new Date(applicableUntil).toISOString();
  const stated = until === undefined ? {} : { applicableUntil: until };
  if (isKeyedPost(request)) {
    const message = `${failed}: resending it with the same Idempotency-Key is safe (applied at most once)`;
    return gatewayAnswer502("UPSTREAM_OUTCOME_UNKNOWN", message, {
      service,
      outcome: "unknown",
      ...stated,
      resendWithSameIdempotencyKey: "safe",
    });
  }
  const check =
    until === undefined
      ? "Check the resource's state before sending it again."
      : `It can still be applied until ${until}, never after (services refuse it past that time): ` +
        "check the resource's state after that time before sending it again (a check after that time is conclusive).";
  const message =
    `${failed}. ${check} POST /orders, POST /users and POST ` +
    "/inventory/:productId/restock accept an Idempotency-Key header, with which a resend is applied " +
    "at most once; other POSTs refuse it (a resend of those cannot apply twice: it answers 409).";
  return gatewayAnswer502("UPSTREAM_OUTCOME_UNKNOWN", message, { service, outcome: "unknown", ...stated });
}

/**
 * A POST with an Idempotency-Key to a route that honours it (the route marks it `retrySafe`): its
 * service applies it at most once per key, so a resend with the same key is safe.
 */
function isKeyedPost(request: UpstreamRequest): boolean {
  return request.method === "POST" && request.retrySafe === true;
}

function bodyTooLarge(service: string, maxBodyBytes: number): UpstreamResponse {
  const message = `"${service}" answered with a body over ${maxBodyBytes} bytes (UPSTREAM_MAX_BODY_BYTES)`;
  return gatewayAnswer502("UPSTREAM_BODY_TOO_LARGE", message, { maxBodyBytes });
}

function badGateway(message: string): UpstreamResponse {
  return gatewayAnswer502("BAD_GATEWAY", message);
}

/** A 502 the gateway answers itself, relayed like an instance's answer: the one error shape, as JSON. */
function gatewayAnswer502(
  code: string,
  message: string,
  details?: Record<string, unknown>,
): UpstreamResponse {
  return {
    status: 502,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: Buffer.from(JSON.stringify(errorBody(code, message, details))),
  };
}
