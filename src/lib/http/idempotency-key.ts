/**
 * The `Idempotency-Key` header as the services read it, and the client it is scoped to (set by
 * the gateway in `CLIENT_HEADER`, never taken from the client). Semantics, as the payment APIs:
 * per client, kept 24 h, a replay answers the resource's current state with
 * `Idempotent-Replayed: true`, the same key with another request is 422 IDEMPOTENCY_KEY_REUSED.
 * Each operation keeps its own keys (orders in the order service, restocks of every product in the
 * inventory service): a key used for an order and then for a restock is two keys (README).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { AppError, type ErrorIssue, toIssues, validationFailed } from "./errors.js";
import { CLIENT_HEADER } from "./headers.js";

/** How long a key is remembered by default (ms): 24 h. */
export const DEFAULT_IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** Printable ASCII, 1-255 characters (Stripe's limit); a UUID is the usual choice. */
export const IdempotencyKeySchema = z
  .string()
  .regex(
    /^[\x21-\x7e]{1,255}$/,
    "Idempotency-Key: 1-255 printable ASCII characters without spaces (e.g. a UUID)",
  );

/**
 * The request's body parsed by `schema` and its key (undefined without the header). Throws a 400
 * VALIDATION_FAILED names every bad body field and a malformed key (`header:Idempotency-Key`) in one
 * answer, body fields first: the README's 400 "names each bad field", and a client told only of
 * the body would learn of its key on a second round trip (newuser15 F3).
 */
export function parseKeyedInput<S extends z.ZodType>(
  schema: S,
  request: FastifyRequest,
): { body: z.output<S>; key: string | undefined } {
  const parsed = schema.safeParse(request.body);
  const checked = checkIdempotencyKey(request);
  if (parsed.success && checked.issues.length === 0) return { body: parsed.data, key: checked.key };
  if (parsed.success) throw validationFailed(checked.issues, "Invalid Idempotency-Key header");
  throw validationFailed([...toIssues(parsed.error.issues), ...checked.issues]);
}

/** The header's key, or the issue (at `header:Idempotency-Key`) saying why it is malformed. */
function checkIdempotencyKey(request: FastifyRequest): { key?: string; issues: ErrorIssue[] } {
  const raw = request.headers["idempotency-key"];
  if (raw === undefined) return { issues: [] };
  const parsed = IdempotencyKeySchema.safeParse(Array.isArray(raw) ? raw.join(",") : raw);
  if (parsed.success) return { key: parsed.data, issues: [] };
  return {
    issues: [{ path: "header:Idempotency-Key", message: parsed.error.issues[0]?.message ?? "invalid" }],
  };
}

/** The header a replay's answer carries (`Idempotent-Replayed: true`); the gateway passes it on. */
export const REPLAYED_HEADER = "idempotent-replayed";

/** Marks `reply` as the answer to a replay (`Idempotent-Replayed: true`); → the same reply. */
export function markReplayed(reply: FastifyReply): FastifyReply {
  return reply.header(REPLAYED_HEADER, "true");
}

/** The client a key belongs to: the gateway's caller identity, else "anonymous". */
export function idempotencyClientOf(request: FastifyRequest): string {
  const client = request.headers[CLIENT_HEADER];
  return typeof client === "string" && client !== "" ? client : "anonymous";
}

/**
 * 422 for a key this client already used with another request within its retention. `differs` says
 * what can have differed on that route (newuser11 F3: a restock of another product with the same
 * body was told "a different body"): POST /orders has one path, so only its body; a restock's record
 * keeps one hash of product and quantity, so the path's product or the body.
 */
export const idempotencyKeyReused = (differs = "a different body"): AppError =>
  new AppError(
    "IDEMPOTENCY_KEY_REUSED",
    `Idempotency-Key was already used with ${differs}; use a new key for a new request`,
    [
      {
        path: "header:Idempotency-Key",
        message: `already used by this client with ${differs} within its retention`,
      },
    ],
  );

/** What a restock's reused key can have differed in (see idempotencyKeyReused). */
export const RESTOCK_REQUEST_DIFFERS = "another product in the path or a different body";
