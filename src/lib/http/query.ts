/** Page-size schemas shared by every list route: the query string's, and a JSON body's. */
import { z } from "zod";

/**
 * A page size in a query string: decimal digits only (`1e2`, `0x10`, `1.0`, ` 5`, `+5` and the empty
 * string are refused, not coerced), then an integer from 1 to `max`. Absent: `defaultValue`, or
 * undefined when none is given. A refusal's message names the format (`limit: an integer from 1 to
 * 500`); `parseQuery` answers it 400 VALIDATION_FAILED at `query:limit`.
 */
export function pageLimit(max: number) {
  const format = `limit: an integer from 1 to ${max}`;
  return z
    .string({ message: format })
    .regex(/^[0-9]{1,9}$/, format)
    .transform(Number)
    .pipe(z.number().int(format).min(1, format).max(max, format));
}

/**
 * A page size (or a count cap) in a JSON body: a JSON integer from 1 to `max`, or, for clients
 * that copied the query string's form, the same decimal-digit string `pageLimit` takes (it was the
 * only form the DLQ bulk retry took before break12 F1). A body must not reuse `pageLimit`: a JSON
 * number is not a string, so every number was refused. One message for every refusal
 * (`limit: an integer from 1 to 1000`), at the body path `limit`.
 */
export function bodyLimit(max: number) {
  const format = `limit: an integer from 1 to ${max}`;
  // abort: a huge number fails once (range), not also as an unsafe integer with the same message.
  const inRange = { error: format, abort: true };
  return z.union([z.number(format).min(1, inRange).max(max, inRange).int(format), pageLimit(max)], {
    error: format,
  });
}
