/**
 * Dead-letter queue operations for operators: list, inspect, retry one or many, archive, purge.
 * Every change is audited with the caller (the API key's digest prefix, or "anonymous").
 * Record ids contain `|`: clients send them URL-encoded.
 */
import { bodyLimit, pageLimit } from "../../lib/http/query.js";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { DeadLetterQueue, RetryFilter } from "../../lib/dlq/dead-letter-queue.js";
import { decodeBulkCursor, DLQ_BULK_MAX_LIMIT } from "../../lib/dlq/bulk.js";
import { decodeDlqCursor } from "../../lib/dlq/paging.js";
import { DeadLetterNotFoundError, DeadLetterRetryOutcomeUnknownError } from "../../lib/dlq/errors.js";
import { AppError, validationFailed } from "../../lib/http/errors.js";
import { parseInput, parseQuery } from "../../lib/http/server.js";
import { callerOf } from "../auth.js";
import type { RouteDoc } from "./types.js";

// The examples are safe to paste into a URL: a "+" there arrives as a space (newuser F2).
const ISO_FORMAT =
  "an ISO 8601 date-time with Z or an offset, seconds optional, e.g. 2024-01-01T12:00Z or 2024-01-01T08:00:00-05:00; in a URL send a + offset as %2B (2024-01-01T14:00%2B02:00)";
const withSeconds = z.iso.datetime({ offset: true });
/** ISO 8601 allows leaving the seconds out (`T14:00+02:00`); zod's default format requires them. */
const withoutSeconds = z.iso.datetime({ offset: true, precision: -1 });
const isoTime = (name: string) =>
  z
    .string()
    .refine(
      (v) => withSeconds.safeParse(v).success || withoutSeconds.safeParse(v).success,
      `${name}: ${ISO_FORMAT}`,
    );

export const DlqFilterQuery = z.strictObject({
  event: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
  sourceService: z.string().min(1).optional(),
  status: z.enum(["dead", "retried", "archived"]).optional(),
  from: isoTime("from").optional(),
  to: isoTime("to").optional(),
  limit: pageLimit(1_000).optional(),
});

export const DlqListQuery = DlqFilterQuery.extend({
  cursor: z
    .string()
    .refine((c) => decodeDlqCursor(c) !== undefined, "cursor: the nextCursor of a previous page, unchanged")
    .optional(),
});

/** A bulk retry's or purge's `cursor`: the `nextCursor` of the previous call of the same run (break17 F7). */
const bulkCursor = z
  .string()
  .refine(
    (c) => decodeBulkCursor(c) !== undefined,
    "cursor: the nextCursor of the previous answer of this retry or purge, unchanged",
  );

/** The query of `POST /dlq/retry`: a filter, and where a run goes on. */
export const DlqBulkRetryQuery = DlqFilterQuery.extend({ cursor: bulkCursor.optional() });

export const DlqActionBody = z.strictObject({ detail: z.string().max(500).optional() }).optional();

/** The message of a filter field sent with `ids`: the body is one or the other (break13 F6). */
const mixedWithIds = (field: string) =>
  `${field}: the body is either ids or a filter, not both (a filter does not narrow the ids: send the ids alone, or the filter alone)`;

export const DlqBulkRetryBody = z
  .strictObject({
    ids: z.array(z.string().min(1)).min(1).max(DLQ_BULK_MAX_LIMIT).optional(),
    detail: z.string().max(500).optional(),
    ...DlqBulkRetryQuery.shape,
    // A JSON body's number, not the query string's digits (break12 F1).
    limit: bodyLimit(DLQ_BULK_MAX_LIMIT).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.ids === undefined) return;
    for (const field of Object.keys(DlqBulkRetryQuery.shape))
      if (body[field as keyof typeof body] !== undefined)
        ctx.addIssue({ code: "custom", path: [field], message: mixedWithIds(field) });
  })
  .optional();

const OLDER_THAN_FORMAT = `olderThan: ${ISO_FORMAT}, or epoch milliseconds`;

export const DlqPurgeQuery = z.strictObject({
  olderThan: z
    .string({ message: `${OLDER_THAN_FORMAT} (required)` })
    .refine((v) => /^\d{1,15}$/.test(v) || isoTime("olderThan").safeParse(v).success, OLDER_THAN_FORMAT),
  status: z.enum(["dead", "retried", "archived"]).optional(),
  limit: pageLimit(DLQ_BULK_MAX_LIMIT).optional(),
  cursor: bulkCursor.optional(),
});

/** The fields given (a filter, with a bulk run's cursor when there is one). */
function filterOf(input: z.output<typeof DlqBulkRetryQuery>): RetryFilter {
  const filter: RetryFilter = {};
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) (filter as Record<string, unknown>)[key] = value;
  }
  return filter;
}

const SECRET_IN_BODY = /("(?:paymentToken|token|cardNumber|password)"\s*:\s*)"(?:[^"\\]|\\.)*"/g;

/**
 * A dead-lettered body is kept byte for byte (retry sends it back as it was), but an operator's
 * view of it must not show secrets such as the payment token of a `payment.requested` message.
 */
export function redactRecord<R extends { body: string }>(record: R): R {
  return { ...record, body: record.body.replace(SECRET_IN_BODY, '$1"[REDACTED]"') };
}

export function registerDlqRoutes(app: FastifyInstance, dlq: DeadLetterQueue): void {
  app.get("/dlq", async (request) => {
    const { cursor, limit, ...query } = parseQuery(DlqListQuery, request.query);
    const page = await dlq.page(filterOf(query), { limit: limit ?? 100, ...(cursor ? { cursor } : {}) });
    const items = page.records.map(redactRecord);
    return { items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  });
  app.get<{ Params: { id: string } }>("/dlq/:id", async (request) => {
    try {
      const inspection = await dlq.inspect(request.params.id);
      return { ...inspection, record: redactRecord(inspection.record) };
    } catch (error) {
      // A purged record's trail is kept for the audit window: answered with the 404 (break25 F4).
      if (error instanceof DeadLetterNotFoundError && error.audit.length > 0)
        throw new AppError(error.code, error.message, { audit: error.audit });
      throw error;
    }
  });
  app.delete<{ Params: { id: string } }>("/dlq/:id", async (request) => {
    // Whatever is stored under the id, a record this release cannot read too (break25 F1).
    const { purged } = await dlq.purge([request.params.id], { actor: callerOf(request) });
    if (purged.length === 0) throw new DeadLetterNotFoundError(request.params.id);
    return { purged };
  });
  app.post<{ Params: { id: string } }>("/dlq/:id/retry", async (request) => {
    const body = parseInput(DlqActionBody, request.body);
    try {
      return redactRecord(await dlq.retry(request.params.id, actor(callerOf(request), body?.detail)));
    } catch (error) {
      throw outcomeUnknown(error, false);
    }
  });
  app.post<{ Params: { id: string } }>("/dlq/:id/archive", async (request) => {
    const body = parseInput(DlqActionBody, request.body);
    return redactRecord(await dlq.archive(request.params.id, actor(callerOf(request), body?.detail)));
  });
  app.post("/dlq/retry", async (request) => {
    const query = parseQuery(DlqBulkRetryQuery, request.query);
    const { ids, detail, ...fromBody } = parseInput(DlqBulkRetryBody, request.body) ?? {};
    if (ids !== undefined) {
      // Ids with a filter in the query: the same mix, refused rather than the filter ignored.
      const mixed = Object.keys(filterOf(query));
      if (mixed.length > 0)
        throw validationFailed(
          mixed.map((field) => ({ path: `query:${field}`, message: mixedWithIds(field) })),
        );
    }
    const target = ids ?? filterOf({ ...query, ...fromBody });
    try {
      return await dlq.retryMany(target, actor(callerOf(request), detail));
    } catch (error) {
      throw outcomeUnknown(error, true);
    }
  });
  app.delete("/dlq", async (request) => {
    const query = parseQuery(DlqPurgeQuery, request.query);
    const olderThan = /^\d+$/.test(query.olderThan)
      ? new Date(Number(query.olderThan)).toISOString()
      : query.olderThan;
    const { status, limit, cursor } = query;
    const criteria = {
      olderThan,
      ...(status === undefined ? {} : { status }),
      ...(limit === undefined ? {} : { limit }),
      ...(cursor === undefined ? {} : { cursor }),
    };
    return dlq.purge(criteria, { actor: callerOf(request) });
  });
}

/**
 * A retry whose replays were sent and whose marks the store did not confirm (break29 F3): 504
 * DLQ_RETRY_OUTCOME_UNKNOWN with `details: { outcome: "unknown", ids }` (and, for a bulk retry,
 * what it settled before: `retried`, `failed`), never a 503 that says "retry shortly". Any other
 * error passes through.
 */
function outcomeUnknown(error: unknown, bulk: boolean): unknown {
  if (!(error instanceof DeadLetterRetryOutcomeUnknownError)) return error;
  const details = {
    outcome: "unknown",
    ids: error.recordIds,
    ...(bulk ? { retried: error.retried, failed: error.failed } : {}),
  };
  return new AppError(error.code, error.message, details);
}

function actor(caller: string, detail: string | undefined) {
  return { actor: caller, ...(detail === undefined ? {} : { detail }) };
}

const tag = "Dead letters";

const AttemptAnswer = z.object({
  attempt: z.number().int(),
  at: z.string(),
  durationMs: z.number(),
  error: z.object({ name: z.string(), message: z.string(), code: z.string().optional() }),
});

/** A dead-letter record as the API shows it (`body` with secrets redacted). */
export const DlqRecordAnswer = z.object({
  id: z.string().describe("<group>|<event>|<stream entry id>: URL-encode it in paths"),
  group: z.string().describe("the consumer group that gave up on the message"),
  topic: z.string(),
  owner: z.string().describe("the service owning the event's stream"),
  deliveryId: z.string(),
  body: z.string().describe("the message as received, secrets ([REDACTED]) hidden"),
  envelopeId: z.string().optional(),
  event: z.string().optional(),
  sourceService: z.string().optional(),
  reason: z.string(),
  attempts: z.array(AttemptAnswer).describe("every attempt's failure, oldest first"),
  deadLetteredAt: z.string().describe("ISO 8601, UTC"),
  status: z.enum(["dead", "retried", "archived"]),
  retries: z.number().int().describe("times the record was sent back to its group"),
});

const AuditAnswer = z.object({
  at: z.string(),
  recordId: z.string(),
  action: z.enum(["dead-lettered", "retried", "archived", "purged"]),
  actor: z.string().describe("the API key's identity, or anonymous"),
  detail: z.string().optional(),
});

export const DlqPageAnswer = z.object({
  items: z.array(DlqRecordAnswer),
  nextCursor: z.string().optional().describe("present when more may follow: pass it back as cursor"),
});
export const DlqInspectAnswer = z.object({ record: DlqRecordAnswer, audit: z.array(AuditAnswer) });
const bulkNextCursor = z
  .string()
  .optional()
  .describe("present when more records may match: send the same request again with it as cursor");
export const DlqRetryManyAnswer = z.object({
  retried: z.array(z.string()),
  failed: z.array(z.object({ id: z.string(), error: z.object({ code: z.string(), message: z.string() }) })),
  nextCursor: bulkNextCursor,
});
export const DlqPurgeAnswer = z.object({ purged: z.array(z.string()), nextCursor: bulkNextCursor });

const exampleId = "payment|payment.requested|1717236000000-0";
const exampleRecord: z.output<typeof DlqRecordAnswer> = {
  id: exampleId,
  group: "payment",
  topic: "payment.requested",
  owner: "order",
  deliveryId: "1717236000000-0",
  body: '{"id":"0190c6a1-...","event":"payment.requested","payload":{"orderId":"o-42","amount":4999,"paymentToken":"[REDACTED]"}}',
  envelopeId: "0190c6a1-...",
  event: "payment.requested",
  sourceService: "order",
  reason: "handler kept failing",
  attempts: [
    {
      attempt: 1,
      at: "2024-06-01T10:00:00.120Z",
      durationMs: 12.5,
      error: { name: "Error", message: "provider down", code: "PROVIDER_DOWN" },
    },
  ],
  deadLetteredAt: "2024-06-01T10:00:05.000Z",
  status: "dead",
  retries: 0,
};
const exampleBulkCursor =
  "WzE3MTcyMzYwMDAwMDAsInBheW1lbnR8cGF5bWVudC5yZXF1ZXN0ZWR8MTcxNzIzNjAwMDAwMC0wIiwxNzE3MzIyNDAwMDAwLCJvcmRlcnxvcmRlci5wbGFjZWR8MTcxNzMyMjQwMDAwMC0zIl0";
const error = (code: string, message: string, details?: unknown) => ({
  error: { code, message, ...(details === undefined ? {} : { details }) },
});
const notFound = error("DLQ_NOT_FOUND", `No dead-letter record "${exampleId}"`);
const malformed = error(
  "DLQ_MALFORMED",
  `Dead-letter record "${exampleId}" is stored in a form that cannot be read: it is not listed, retried or archived; remove it with DELETE /dlq/:id`,
);
const unavailable = error(
  "SERVICE_UNAVAILABLE",
  "The dead letter store did not answer within 1000 ms (store unreachable); retry shortly",
);
const outcomeUnknownMessage = new DeadLetterRetryOutcomeUnknownError([exampleId], new Error("timeout"))
  .message;
const badQuery = (name: string, message: string) =>
  error("VALIDATION_FAILED", "Invalid query parameters", [{ path: `query:${name}`, message }]);

export const dlqRouteDocs: RouteDoc[] = [
  {
    method: "GET",
    url: "/dlq",
    tag,
    summary: "List dead-lettered messages, newest first, a page at a time (cursor in, nextCursor out)",
    description:
      "Filters: event, group, sourceService (a malformed message matches by its stream's event and owning " +
      "service), status, from/to (ISO 8601 instants, inclusive), limit 1-1000 (default 100), cursor. A page " +
      "examines at most 1,000 records, so it may hold fewer than limit and still carry nextCursor.",
    query: DlqListQuery,
    answer: DlqPageAnswer,
    examples: {
      responses: {
        200: { items: [exampleRecord], nextCursor: "WzE3MTcyMzYwMDUwMDAsInBheW1lbnR8In0" },
        400: badQuery("from", `from: ${ISO_FORMAT}`),
        503: unavailable,
      },
    },
    responses: {
      200: "{ items: DeadLetterRecord[], nextCursor? }",
      400: "Invalid filter",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
  {
    method: "GET",
    url: "/dlq/:id",
    tag,
    summary: "Inspect one record with its audit trail (id URL-encoded)",
    description:
      "A record purged within the audit window (30 days) answers 404 DLQ_NOT_FOUND with its trail " +
      "(dead-lettered, retried, purged, and a retry that raced the purge) in error.details.audit.",
    answer: DlqInspectAnswer,
    examples: {
      responses: {
        200: {
          record: exampleRecord,
          audit: [
            {
              at: "2024-06-01T10:00:05.000Z",
              recordId: exampleId,
              action: "dead-lettered",
              actor: "payment-1",
            },
          ],
        },
        404: {
          error: {
            ...notFound.error,
            details: {
              audit: [
                {
                  at: "2024-06-01T10:00:05.000Z",
                  recordId: exampleId,
                  action: "dead-lettered",
                  actor: "payment-1",
                },
                { at: "2024-07-01T09:00:00.000Z", recordId: exampleId, action: "purged", actor: "ops-3f2a" },
              ],
            },
          },
        },
        409: malformed,
        503: unavailable,
      },
    },
    responses: {
      200: "{ record, audit }",
      404: "No such record; a purged record's audit trail (kept 30 days) is in details.audit",
      409: "Something unreadable is stored under the id (DLQ_MALFORMED): DELETE /dlq/:id removes it",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
  {
    method: "POST",
    url: "/dlq/:id/retry",
    tag,
    summary: "Send the message back to its consumer group",
    description:
      "Re-delivers the original bytes, under the original envelope id, to the record's consumer group only, " +
      "then marks the record retried (retries + 1) and audits it with the caller and the optional detail. " +
      "When the redelivery fails the record is left as it was (503 DLQ_REDELIVERY_FAILED): retry again. " +
      "Concurrent retries of one record: each 200 is one replay and one audit entry; a retry that lost " +
      "the race answers 409 DLQ_RETRY_CONFLICT having sent nothing more. A record purged while its replay was " +
      "on the way is gone but was sent: 200 and a 'retried' audit entry noting the purge. The mark and its " +
      "audit entry are one step; when the store does not confirm it after the send, 504 " +
      "DLQ_RETRY_OUTCOME_UNKNOWN (details.outcome 'unknown'): read the record before retrying.",
    body: DlqActionBody,
    answer: DlqRecordAnswer,
    examples: {
      request: { detail: "INC-42: provider back up" },
      responses: {
        200: { ...exampleRecord, status: "retried", retries: 1 },
        404: notFound,
        409: error("DLQ_ARCHIVED", `Dead-letter record "${exampleId}" is archived and cannot be retried`),
        503: error(
          "DLQ_REDELIVERY_FAILED",
          `Redelivery of dead-letter record "${exampleId}" failed: Connection is closed.`,
        ),
        504: error("DLQ_RETRY_OUTCOME_UNKNOWN", outcomeUnknownMessage, {
          outcome: "unknown",
          ids: [exampleId],
        }),
      },
    },
    responses: {
      200: "The record, status 'retried'",
      404: "No such record",
      409: "Record is archived (DLQ_ARCHIVED), or another retry of it was accepted at the same time (DLQ_RETRY_CONFLICT), or it cannot be read (DLQ_MALFORMED)",
      503: "Dead letter store unreachable, or (retry) the record could not be sent back: DLQ_REDELIVERY_FAILED (Retry-After set)",
      504: 'Sent, then the store did not confirm the mark: DLQ_RETRY_OUTCOME_UNKNOWN, details { outcome: "unknown", ids }; read the record before retrying',
    },
  },
  {
    method: "POST",
    url: "/dlq/retry",
    tag,
    summary: "Retry many: by ids, or every 'dead' record matching a filter (query or body)",
    description:
      "Body (or query) `ids` (1-1000, retried in that order, whatever their status but archived) or a filter " +
      "(the fields of GET /dlq; status defaults to dead, oldest first). By filter, one request retries at most " +
      "`limit` records (1-1000, default 100; it examines at most 5,000) and answers nextCursor when more may " +
      "match: send the same request with it as `cursor` until there is none (the run then covers the records " +
      "there when its first request started). Works in batches of 500 records; each outcome is reported, a " +
      "failure does not stop the others. Run again after a crash or a timeout, a filter retry finishes the " +
      "job without sending any record twice. `ids` with any filter field or cursor (body or query) is " +
      "refused (400): the body is one or the other.",
    query: DlqBulkRetryQuery,
    body: DlqBulkRetryBody,
    answer: DlqRetryManyAnswer,
    examples: {
      request: { group: "payment", event: "payment.requested", detail: "INC-42" },
      responses: {
        200: {
          retried: [exampleId],
          failed: [
            {
              id: "payment|payment.requested|1717236001000-0",
              error: {
                code: "DLQ_ARCHIVED",
                message: "Dead-letter record ... is archived and cannot be retried",
              },
            },
          ],
          nextCursor: exampleBulkCursor,
        },
        400: error("VALIDATION_FAILED", "Request validation failed", [
          { path: "ids", message: "Too big: expected array to have <=1000 items" },
        ]),
        503: unavailable,
        504: error("DLQ_RETRY_OUTCOME_UNKNOWN", outcomeUnknownMessage, {
          outcome: "unknown",
          ids: [exampleId],
          retried: [],
          failed: [],
        }),
      },
    },
    responses: {
      200: "{ retried: string[], failed: { id, error }[], nextCursor? }",
      400: "Invalid ids, filter, limit (over 1000) or cursor, or ids together with a filter field (each named)",
      503: "Dead letter store unreachable, or (retry) the record could not be sent back: DLQ_REDELIVERY_FAILED (Retry-After set)",
      504: 'A batch sent, then the store did not confirm its marks: DLQ_RETRY_OUTCOME_UNKNOWN, details { outcome: "unknown", ids, retried, failed }; read those records before retrying them by id',
    },
  },
  {
    method: "POST",
    url: "/dlq/:id/archive",
    tag,
    summary: "Mark a record as never to be replayed",
    description:
      "Archiving an archived record changes nothing; a retry of an archived record is refused (409). A record " +
      "purged before it could be marked answers 404 DLQ_NOT_FOUND and is not audited 'archived'.",
    body: DlqActionBody,
    answer: DlqRecordAnswer,
    examples: {
      request: { detail: "duplicate of o-41, refunded by hand" },
      responses: {
        200: { ...exampleRecord, status: "archived" },
        404: notFound,
        409: malformed,
        503: unavailable,
      },
    },
    responses: {
      200: "The record, status 'archived'",
      404: "No such record",
      409: "It cannot be read (DLQ_MALFORMED)",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
  {
    method: "DELETE",
    url: "/dlq",
    tag,
    summary: "Purge records dead-lettered before a time",
    description:
      "olderThan (required): an ISO 8601 instant or epoch milliseconds; records dead-lettered strictly " +
      "before it are deleted (optionally only those with `status`), oldest first, at most `limit` per " +
      "request (1-1000, default 100; it examines at most 5,000), in batches of 500, each audited 'purged' " +
      "as it is deleted. A record is selected by its own deadLetteredAt (and status), checked again as it is " +
      "deleted: never by the index's time alone. nextCursor is present when more may match: send the same " +
      "request with it as `cursor` until there is none. Run again after a crash, it finishes the job. An " +
      "entry of the index with no readable record is dropped when met (DELETE /dlq/:id removes what is stored).",
    query: DlqPurgeQuery,
    answer: DlqPurgeAnswer,
    examples: {
      responses: {
        200: { purged: [exampleId], nextCursor: exampleBulkCursor },
        400: badQuery("olderThan", OLDER_THAN_FORMAT),
        503: unavailable,
      },
    },
    responses: {
      200: "{ purged: string[], nextCursor? }",
      400: "olderThan missing or invalid, limit over 1000, or an invalid cursor",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
  {
    method: "DELETE",
    url: "/dlq/:id",
    tag,
    summary: "Purge one record by id (id URL-encoded), whatever its status or form",
    description:
      "Deletes what is stored under the id, audited 'purged' with the caller: a record, or something that is " +
      "not a readable record (DLQ_MALFORMED on the other routes: planted, edited by hand, or a newer " +
      "release's), which the listings skip and the other routes refuse.",
    answer: DlqPurgeAnswer,
    examples: { responses: { 200: { purged: [exampleId] }, 404: notFound, 503: unavailable } },
    responses: {
      200: "{ purged: [id] }",
      404: "Nothing stored under the id",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
];
