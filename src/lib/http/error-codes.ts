/**
 * Every error code the HTTP API can answer with: its status and what it means. The one source of
 * the status mapping (errors.ts), the OpenAPI document's code list and the README's error table (a
 * test checks the README lists each one, and another walks the routes for codes not listed here).
 */
export interface ErrorCodeDoc {
  status: number;
  description: string;
}

export const ERROR_CODES = {
  VALIDATION_FAILED: {
    status: 400,
    description:
      "Body, query or header invalid; `details: [{ path, message }]` names each field (`query:limit`, `header:Idempotency-Key`) and its format",
  },
  MALFORMED_JSON: {
    status: 400,
    description:
      'The body is not JSON, is not valid UTF-8, or uses a reserved key ("__proto__", "constructor.prototype")',
  },
  INVALID_PAYLOAD: { status: 400, description: "A bus message's payload does not match its event schema" },
  DLQ_INVALID: { status: 400, description: "A dead-letter operation's criteria are invalid" },
  IDEMPOTENCY_KEY_NOT_SUPPORTED: {
    status: 400,
    description:
      "An Idempotency-Key on a POST that does not honour it (POST /orders, POST /users and restock do); resend without it",
  },
  BAD_URL: { status: 400, description: "The URL cannot be decoded (e.g. a bad percent-escape)" },
  BAD_REQUEST: { status: 400, description: "Any other malformed request" },
  UNAUTHORIZED: { status: 401, description: "API keys are configured and none (or a wrong one) was sent" },
  GATEWAY_AUTH_REQUIRED: {
    status: 401,
    description:
      "A service's port called without the gateway's `X-Gateway-Auth` credential: services are reached through the gateway",
  },
  ADMIN_REQUIRED: {
    status: 403,
    description:
      "A client API key on an admin operation (catalog changes, restock, DLQ, `/services`, `/payments`, `/shipments`)",
  },
  GATEWAY_AUTH_INVALID: {
    status: 403,
    description: "A service's port called with a wrong or expired `X-Gateway-Auth` credential",
  },
  NOT_FOUND: { status: 404, description: "No such resource, or no such route" },
  DLQ_NOT_FOUND: { status: 404, description: "No dead-letter record with this id" },
  SHIPMENT_NOT_PARKED: {
    status: 404,
    description:
      "`POST /shipments/:orderId/requeue` on a shipment that is not parked: never parked, or already re-queued (nothing scheduled)",
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    description: "The path exists with other methods, listed in the `Allow` header",
  },
  REQUEST_TIMEOUT: { status: 408, description: "The request was not received completely in time" },
  CONFLICT: { status: 409, description: "The change conflicts with the resource's state" },
  EMAIL_TAKEN: { status: 409, description: "A user with this email exists" },
  PRODUCT_EXISTS: { status: 409, description: "A product with this id exists" },
  ORDER_NOT_CANCELLABLE: {
    status: 409,
    description: "The order is past the point where it can be cancelled",
  },
  CONCURRENCY_CONFLICT: { status: 409, description: "Someone changed the resource at the same time; retry" },
  DLQ_ARCHIVED: { status: 409, description: "The dead-letter record is archived and cannot be retried" },
  DLQ_MALFORMED: {
    status: 409,
    description:
      "Something is stored under the dead-letter record's id that is not a readable record (planted, edited by hand, or written by a newer release): it is not listed, retried or archived; `DELETE /dlq/:id` removes it",
  },
  DLQ_RETRY_CONFLICT: {
    status: 409,
    description:
      "Another retry of the dead-letter record was accepted at the same time (it was sent once, for that retry): inspect it, retry again only for another replay",
  },
  PAYLOAD_TOO_LARGE: { status: 413, description: "The body is over the limit (64 KiB by default)" },
  URI_TOO_LONG: {
    status: 414,
    description:
      "A path segment (an id) is over 1,000 characters; `details: { maxPathSegmentLength }`, the URL is not echoed back",
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description:
      "A body that is not `Content-Type: application/json`, or declares a charset other than UTF-8",
  },
  UNSUPPORTED_CONTENT_ENCODING: {
    status: 415,
    description: "A body sent with a `Content-Encoding` (gzip, br...): send the JSON uncompressed",
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    description:
      "This client used the Idempotency-Key with a different request within 24 h: a different body (a restock: or another product); the message says which can differ",
  },
  RATE_LIMITED: {
    status: 429,
    description:
      "This API key sent more than `GATEWAY_RATE_LIMIT_PER_MINUTE` requests (after its burst), or this address failed authentication more than `GATEWAY_AUTH_FAILURES_PER_MINUTE` times; `Retry-After` says when to retry",
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    description: "The request line and headers are over 16 KiB (e.g. a very long query string)",
  },
  INTERNAL: {
    status: 500,
    description:
      "An unexpected failure (logged with the request's trace id, and the client's `X-Correlation-Id` as `clientCorrelationId`)",
  },
  USER_DATA_UNREADABLE: {
    status: 500,
    description:
      '`GET`/`PUT` of a user stored under a data key the user service does not hold (e.g. restarted with other `USER_DATA_KEYS`, or a rotation\'s old key dropped too early): start it with the keys the user was written with, then re-seal (docs/security.md, "Rotating the user data key"). `DELETE` needs no key and succeeds',
  },
  BAD_GATEWAY: {
    status: 502,
    description:
      "A service failed without an answer in the error shape (a read, or an answer; a write it had and did not answer is `UPSTREAM_OUTCOME_UNKNOWN`), or every instance tried refused the gateway's own credential (their GATEWAY secret differs from the gateway's; nothing was applied)",
  },
  UPSTREAM_OUTCOME_UNKNOWN: {
    status: 502,
    description:
      'An instance received the request and the connection broke before it answered, and no other instance answered a resend: a write (`POST`, `PUT`, `DELETE`) may have been applied (`details.outcome: "unknown"`). A keyed `POST /orders`, `POST /users` or restock says a resend with the same Idempotency-Key is safe (`details.resendWithSameIdempotencyKey: "safe"`); for another write check the resource after `details.applicableUntil` (ISO time, also in the message: it can still be applied until then, never after) before resending (a `GET` that broke is `BAD_GATEWAY`: it changed nothing)',
  },
  UPSTREAM_BODY_TOO_LARGE: {
    status: 502,
    description:
      "The service's answer body is over UPSTREAM_MAX_BODY_BYTES (default 10 MiB); `details: { maxBodyBytes }`. Not resent, not counted against the instance",
  },
  SERVICE_UNAVAILABLE: {
    status: 503,
    description: "No healthy instance can serve, or the store is unreachable (Retry-After set)",
  },
  PAYMENT_PROVIDER_UNAVAILABLE: {
    status: 503,
    description:
      "The payment provider is down (or still processing this order's call): its ledger cannot be read now (Retry-After set)",
  },
  BUSY: {
    status: 503,
    description:
      "The resource is contended right now (e.g. concurrent restocks of one product): retry after `Retry-After`. The instance is healthy: the gateway passes this on and does not count it against the instance",
  },
  REDIS_REPLY_LOST: {
    status: 503,
    description:
      "The connection to Redis dropped before it answered this request's write, which may have run (Retry-After set). Resend after checking the resource; POST /orders, POST /users and restock with the same Idempotency-Key resend safely. The instance is healthy: the gateway passes this on and does not count it against the instance",
  },
  STORE_OUT_OF_MEMORY: {
    status: 503,
    description:
      "Redis is at `maxmemory` (`noeviction`) and refused this request's write; nothing was written (Retry-After set). Reads still answer. Every instance shares that Redis, so the gateway passes this on and does not count it against the instance; it lasts until memory is freed or `maxmemory` raised (README, Troubleshooting)",
  },
  GATEWAY_DEADLINE_PASSED: {
    status: 503,
    description:
      "A service's port received a gateway call after the deadline its `X-Gateway-Auth` credential carries (the gateway had given up on it: 504), or a write that checks it in its atomic step (order placement and cancel, product add, restock, user create, update and delete) ran past it (Redis `TIME`): refused, nothing applied. The gateway never relays it to a client",
  },
  CIRCUIT_OPEN: { status: 503, description: "Every instance's circuit breaker is open (Retry-After set)" },
  DLQ_REDELIVERY_FAILED: {
    status: 503,
    description: "The dead-letter record could not be sent back to its group",
  },
  DLQ_RETRY_OUTCOME_UNKNOWN: {
    status: 504,
    description:
      "A dead-letter retry sent its replay, then the store did not confirm the record's mark within 1 s: it may be marked retried (with its audit entry) or not (`details: { outcome: \"unknown\", ids }`, and a bulk retry's `retried`/`failed` so far). Read the record before retrying: unchanged, a retry sends the same replay again, which its group gets once; marked (`retries` + 1), it was retried",
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    description:
      'The service did not answer within UPSTREAM_TIMEOUT_MS (2 s per attempt while the registry is unreachable). A write the instance had may or may not have been applied (`details.outcome: "unknown"`): resend a keyed one with the same Idempotency-Key (applied at most once); for another, `details.applicableUntil` (ISO time, also in the message) says until when it can still be applied, never after (services refuse it past that time): a check of the resource after that time is conclusive',
  },
} as const satisfies Record<string, ErrorCodeDoc>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes by status, for documentation. */
export function codesByStatus(): Map<number, ErrorCode[]> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const [code, doc] of Object.entries(ERROR_CODES) as [ErrorCode, ErrorCodeDoc][]) {
    byStatus.set(doc.status, [...(byStatus.get(doc.status) ?? []), code]);
  }
  return byStatus;
}
