/**
 * What the dead-letter store took out of the way while reading its index (break25 F1, F2): an
 * entry with no readable record of its id (missing, foreign, malformed: dropped from the index) or
 * whose time is not its record's own (set back). Counted by reason, and logged once per entry
 * taken out (the store drops or repairs it, so the next read does not meet it again unless it is
 * planted again). The log names the id, never what is stored: a planted hash's content is not echoed.
 */
import { Counter, type Registry } from "prom-client";
import type { DeadLetterStore } from "../lib/dlq/dead-letter-store.js";
import type { Logger } from "../lib/observability/logger.js";

/** Longest id logged, characters: an index member is whatever a service's Redis user wrote. */
const MAX_LOGGED_ID = 200;

/** Counts and logs the store's skips on `registry` and `logger`; returns the unsubscription. */
export function watchDlqSkips(store: DeadLetterStore, registry: Registry, logger: Logger): () => void {
  const skipped = new Counter({
    name: "ordersaga_dlq_index_entries_skipped_total",
    help: "Entries of the dead-letter index a read took out of the way: reason missing, foreign or malformed (no readable record of the id: dropped from the index) or redated (its time was not the record's own: set back)",
    labelNames: ["reason"],
    registers: [registry],
  });
  for (const reason of ["missing", "foreign", "malformed", "redated"]) skipped.inc({ reason }, 0);
  return store.onSkip(({ id, reason }) => {
    skipped.inc({ reason });
    const recordId = id.length > MAX_LOGGED_ID ? `${id.slice(0, MAX_LOGGED_ID)}...` : id;
    logger.warn(
      { recordId, reason },
      reason === "redated"
        ? "dead-letter index entry whose time was not its record's own set back (forged by a service's Redis user?)"
        : "dead-letter index entry with no readable record dropped (DELETE /dlq/:id removes what is stored)",
    );
  });
}
