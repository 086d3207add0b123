/**
 * Application errors with stable codes, and the one place that maps codes to HTTP statuses.
 * Business outcomes (out of stock, payment declined) are events, not errors; these are for
 * requests that cannot be served.
 */
import { ERROR_CODES } from "./error-codes.js";

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

/**
 * Zod issues → `{ path, message }` list (the shape of `details` on a 400). Zod reports every unknown
 * field of an object in one issue at the object's own path (`""` for a body): split into one issue
 * per field, at the field's path (`extra`, `items.0.extra`), so a client sees which one to drop
 * (newuser9 F13).
 */
export function toIssues(
  issues: readonly {
    path: readonly PropertyKey[];
    message: string;
    code?: string;
    keys?: readonly string[];
  }[],
): ErrorIssue[] {
  return issues.flatMap((issue) =>
    issue.code === "unrecognized_keys" && issue.keys !== undefined
      ? issue.keys.map((key) => ({
          path: [...issue.path, key].map(String).join("."),
          message: `unknown field "${key}"`,
        }))
      : [{ path: issue.path.map(String).join("."), message: issue.message }],
  );
}

export const validationFailed = (issues: ErrorIssue[], message = "Request validation failed") =>
  new AppError("VALIDATION_FAILED", message, issues);

const STATUS_BY_CODE: Record<string, number> = Object.fromEntries(
  Object.entries(ERROR_CODES).map(([code, doc]) => [code, doc.status]),
);

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
