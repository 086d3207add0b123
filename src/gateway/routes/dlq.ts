/**
 * Dead-letter queue operations for operators: list, inspect, retry one or many, archive, purge.
 * Every change is audited with the caller (the API key's digest prefix, or "anonymous").
 * Record ids contain `|`: clients send them URL-encoded.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { DeadLetterQueue } from "../../lib/dlq/dead-letter-queue.js";
import type { DeadLetterFilter } from "../../lib/dlq/dead-letter-store.js";
import { decodeDlqCursor } from "../../lib/dlq/paging.js";
import { parseInput, parseQuery } from "../../lib/http/server.js";
import { callerOf } from "../auth.js";
import type { RouteDoc } from "./types.js";

const ISO_FORMAT =
  "an ISO 8601 date-time with Z or an offset, seconds optional, e.g. 2024-01-01T08:00:00-05:00 or 2024-01-01T14:00+02:00";
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

export const DlqFilterQuery = z.object({
  event: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
  sourceService: z.string().min(1).optional(),
  status: z.enum(["dead", "retried", "archived"]).optional(),
  from: isoTime("from").optional(),
  to: isoTime("to").optional(),
  limit: z.coerce
    .number({ message: "limit: an integer from 1 to 1000" })
    .int("limit: an integer from 1 to 1000")
    .min(1, "limit: an integer from 1 to 1000")
    .max(1_000, "limit: an integer from 1 to 1000")
    .optional(),
});

export const DlqListQuery = DlqFilterQuery.extend({
  cursor: z
    .string()
    .refine((c) => decodeDlqCursor(c) !== undefined, "cursor: the nextCursor of a previous page, unchanged")
    .optional(),
});

export const DlqActionBody = z.strictObject({ detail: z.string().max(500).optional() }).optional();

export const DlqBulkRetryBody = z
  .strictObject({
    ids: z.array(z.string().min(1)).min(1).max(1_000).optional(),
    detail: z.string().max(500).optional(),
    ...DlqFilterQuery.shape,
  })
  .optional();

const OLDER_THAN_FORMAT = `olderThan: ${ISO_FORMAT}, or epoch milliseconds`;

export const DlqPurgeQuery = z.object({
  olderThan: z
    .string({ message: `${OLDER_THAN_FORMAT} (required)` })
    .refine((v) => /^\d{1,15}$/.test(v) || isoTime("olderThan").safeParse(v).success, OLDER_THAN_FORMAT),
  status: z.enum(["dead", "retried", "archived"]).optional(),
});

function filterOf(input: z.output<typeof DlqFilterQuery>): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
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
    const inspection = await dlq.inspect(request.params.id);
    return { ...inspection, record: redactRecord(inspection.record) };
  });
  app.post<{ Params: { id: string } }>("/dlq/:id/retry", async (request) => {
    const body = parseInput(DlqActionBody, request.body);
    return redactRecord(await dlq.retry(request.params.id, actor(callerOf(request), body?.detail)));
  });
  app.post<{ Params: { id: string } }>("/dlq/:id/archive", async (request) => {
    const body = parseInput(DlqActionBody, request.body);
    return redactRecord(await dlq.archive(request.params.id, actor(callerOf(request), body?.detail)));
  });
  app.post("/dlq/retry", async (request) => {
    const query = parseQuery(DlqFilterQuery, request.query);
    const { ids, detail, ...fromBody } = parseInput(DlqBulkRetryBody, request.body) ?? {};
    const target = ids ?? filterOf({ ...query, ...fromBody });
    return dlq.retryMany(target, actor(callerOf(request), detail));
  });
  app.delete("/dlq", async (request) => {
    const query = parseQuery(DlqPurgeQuery, request.query);
    const olderThan = /^\d+$/.test(query.olderThan)
      ? new Date(Number(query.olderThan)).toISOString()
      : query.olderThan;
    const criteria = { olderThan, ...(query.status ? { status: query.status } : {}) };
    return dlq.purge(criteria, { actor: callerOf(request) });
  });
}

function actor(caller: string, detail: string | undefined) {
  return { actor: caller, ...(detail === undefined ? {} : { detail }) };
}

const tag = "Dead letters";

export const dlqRouteDocs: RouteDoc[] = [
  {
    method: "GET",
    url: "/dlq",
    tag,
    summary: "List dead-lettered messages, newest first, a page at a time (cursor in, nextCursor out)",
    query: DlqListQuery,
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
    responses: {
      200: "{ record, audit }",
      404: "No such record",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
  {
    method: "POST",
    url: "/dlq/:id/retry",
    tag,
    summary: "Send the message back to its consumer group",
    body: DlqActionBody,
    responses: {
      200: "The record, status 'retried'",
      404: "No such record",
      409: "Record is archived",
      503: "Dead letter store unreachable, or (retry) the record could not be sent back: DLQ_REDELIVERY_FAILED (Retry-After set)",
    },
  },
  {
    method: "POST",
    url: "/dlq/retry",
    tag,
    summary: "Retry many: by ids, or every 'dead' record matching a filter (query or body)",
    query: DlqFilterQuery,
    body: DlqBulkRetryBody,
    responses: {
      200: "{ retried: string[], failed: { id, error }[] }",
      503: "Dead letter store unreachable, or (retry) the record could not be sent back: DLQ_REDELIVERY_FAILED (Retry-After set)",
    },
  },
  {
    method: "POST",
    url: "/dlq/:id/archive",
    tag,
    summary: "Mark a record as never to be replayed",
    body: DlqActionBody,
    responses: {
      200: "The record, status 'archived'",
      404: "No such record",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
  {
    method: "DELETE",
    url: "/dlq",
    tag,
    summary: "Purge records dead-lettered before a time",
    query: DlqPurgeQuery,
    responses: {
      200: "{ purged: string[] }",
      400: "olderThan missing or invalid",
      503: "Dead letter store unreachable (Retry-After set)",
    },
  },
];
