/** Query-parameter schemas shared by every list route. */
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
