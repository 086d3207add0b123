/**
 * How the gateway reads an upstream failure: whether the request provably never left the gateway
 * (safe to send to another instance whatever the method), and whether a body is already in the one
 * error shape (then it is passed through unchanged).
 */

/**
 * Errors of the connect phase only: no connection was ever established, so no byte of the request
 * was written. A reset or a closed socket (ECONNRESET, EPIPE, UND_ERR_SOCKET) is NOT here: it can
 * come after the instance received, and applied, the whole request.
 */
const NEVER_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The error's string `code`, or its cause's (fetch and undici sometimes wrap the socket error). */
export function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 3; depth++) {
    if (typeof current !== "object") return undefined;
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when the connection to the instance could not be opened: the request never left. */
export function neverReached(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && NEVER_SENT_CODES.has(code);
}

/**
 * Fastify's drain answer (`return503OnClosing`): a server shutting down refuses new requests with
 * this exact body before any handler runs, so the request may safely go to another instance.
 */
const FASTIFY_CLOSING_BODY =
  '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}';

export function isDrainingResponse(status: number, body: Buffer): boolean {
  return (
    status === 503 && body.length === FASTIFY_CLOSING_BODY.length && body.toString() === FASTIFY_CLOSING_BODY
  );
}

/**
 * Error codes a service answers (>= 500) about one request, not about itself: the resource is
 * contended (`BUSY`), a dependency outside the service is down for this call
 * (`PAYMENT_PROVIDER_UNAVAILABLE`), or a connection drop lost the shared Redis's reply to a write
 * (`REDIS_REPLY_LOST`: every instance shares that Redis, and the write may have run, so it is
 * not resent elsewhere either), or that Redis refused its write for memory (`STORE_OUT_OF_MEMORY`:
 * the same shared Redis; counted, the refusals opened every instance's breaker and blocked the reads
 * Redis still served, break38 F2). The instance answered deliberately and is healthy, so the
 * gateway passes such an answer on as it is (with its Retry-After), and neither counts it against
 * the instance's circuit breaker nor resends it elsewhere (another instance sees the same resource).
 * Every other answer >= 500 counts as a failure of the instance, as do transport failures and
 * timeouts. Documented in the README ("Retries and idempotency").
 */
export const REQUEST_SCOPED_CODES: ReadonlySet<string> = new Set([
  "BUSY",
  "PAYMENT_PROVIDER_UNAVAILABLE",
  "REDIS_REPLY_LOST",
  "STORE_OUT_OF_MEMORY",
]);

/**
 * The `error.code` of an error answer (status >= 400, JSON, at most 64 KiB), or undefined: what the
 * proxy reads to tell a refused credential, a passed deadline and a request-scoped answer apart.
 */
export function errorCodeOf(
  status: number,
  body: Buffer,
  contentType: string | undefined,
): string | undefined {
  if (status < 400 || !contentType?.includes("json") || body.length === 0 || body.length > 64 * 1024)
    return undefined;
  try {
    const code = (JSON.parse(body.toString()) as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** True for an answer >= 500 in the error shape whose code is in REQUEST_SCOPED_CODES. */
export function isRequestScopedAnswer(
  status: number,
  body: Buffer,
  contentType: string | undefined,
): boolean {
  const code = status >= 500 ? errorCodeOf(status, body, contentType) : undefined;
  return code !== undefined && REQUEST_SCOPED_CODES.has(code);
}

/** True when the body is `{ error: { code: string, message: string, ... } }`. */
export function hasErrorShape(body: Buffer, contentType: string | undefined): boolean {
  if (!contentType?.includes("json") || body.length === 0) return false;
  try {
    const parsed = JSON.parse(body.toString()) as { error?: { code?: unknown; message?: unknown } };
    return typeof parsed.error?.code === "string" && typeof parsed.error.message === "string";
  } catch {
    return false;
  }
}

/** The methods that change nothing (read-only, RFC 9110 "safe") among those the gateway serves. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

/**
 * True for GET and HEAD: a request that changes nothing, so a late copy of it on a frozen instance
 * is harmless (resent after a timeout) and it only reads (a client key may call it on inventory).
 */
export function isSafeMethod(method: string): boolean {
  // Exact: Node's parser gives methods in upper case, and an auth check must not widen on a variant.
  return SAFE_METHODS.has(method);
}

/** RFC 9110 idempotent methods: repeating one has the effect of sending it once. */
const IDEMPOTENT_METHODS = new Set([...SAFE_METHODS, "PUT", "DELETE", "OPTIONS"]);

/** Methods a failed attempt may repeat on another instance even if the first one handled it. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}
