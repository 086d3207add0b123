/**
 * Application errors with stable codes, and the one place that maps codes to HTTP statuses.
 * Business outcomes (out of stock, payment declined) are events, not errors; these are for
 * requests that cannot be served.
 */
export interface ErrorIssue {
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly retryable = false,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const notFound = (what: string, id: string) => new AppError("NOT_FOUND", `${what} ${id} not found`);
export const conflict = (code: string, message: string, details?: unknown) =>
  new AppError(code, message, details);

/** Zod issues → `{ path, message }` list (the shape of `details` on a 400). */
export function toIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ErrorIssue[] {
  return issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

export const validationFailed = (issues: ErrorIssue[], message = "Request validation failed") =>
  new AppError("VALIDATION_FAILED", message, issues);

const STATUS_BY_CODE: Record<string, number> = {
  VALIDATION_FAILED: 400,
  INVALID_PAYLOAD: 400,
  DLQ_INVALID: 400,
  MALFORMED_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  DLQ_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  EMAIL_TAKEN: 409,
  PRODUCT_EXISTS: 409,
  ORDER_NOT_CANCELLABLE: 409,
  CONCURRENCY_CONFLICT: 409,
  DLQ_ARCHIVED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  UNPROCESSABLE: 422,
  UNKNOWN_PRODUCT: 422,
  RATE_LIMITED: 429,
  BAD_GATEWAY: 502,
  UPSTREAM_OUTCOME_UNKNOWN: 502,
  SERVICE_UNAVAILABLE: 503,
  CIRCUIT_OPEN: 503,
  DLQ_REDELIVERY_FAILED: 503,
  UPSTREAM_TIMEOUT: 504,
};

export function statusForCode(code: string): number {
  return knownStatus(code) ?? 500;
}

/** The status of a code this table knows, so any typed error carrying one maps without wrapping. */
export function knownStatus(code: string): number | undefined {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code] : undefined;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}
