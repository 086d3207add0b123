/**
 * HTTP routes of the order service (proxied by the gateway). Writes go through the saga runner
 * (one atomic append each); reads come from the order view, which every append writes with its
 * events, so a client always reads its own writes (the stream is folded when there is no view).
 */
import { pageLimit } from "../../lib/http/query.js";
import {
  activeTraceparent,
  CLIENT_CORRELATION_ATTRIBUTE,
  setActiveSpanAttribute,
} from "../../lib/observability/spans.js";
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { IdSchema, PlaceOrderBody } from "../../contracts/index.js";
import { newMessageId, traceIdOf } from "../../lib/bus/envelope.js";
import { stableStringify } from "../../lib/bus/idempotency-key.js";
import { AppendDeadlineError, ConcurrencyError, type ReadModelStore } from "../../lib/eventstore/index.js";
import { deadlinePassed, deadlinePassedBody, gatewayDeadlineOf } from "../../lib/http/gateway-credential.js";
import { AppError, notFound, parseInput, parseQuery } from "../../lib/http/index.js";
import {
  idempotencyClientOf,
  idempotencyKeyReused,
  markReplayed,
  parseKeyedInput,
} from "../../lib/http/idempotency-key.js";
import { DEFAULT_IDEMPOTENCY_TTL_MS, type IdempotencyRecords } from "./idempotency-records.js";
import { applyToView, type OrderView } from "./projections.js";
import { decodeCursor, type OrderListIndex } from "./order-list.js";
import type { OrderRepository } from "./repository.js";
import type { CommandPreparer, SagaRunner } from "./saga-runner.js";
import type { TokenSealer } from "../../lib/security/payment-token.js";

export interface OrderRoutesDeps {
  runner: SagaRunner;
  repository: OrderRepository;
  views: ReadModelStore<OrderView>;
  list: OrderListIndex;
  publisher: CommandPreparer;
  newOrderId: () => string;
  idempotency: IdempotencyRecords;
  /**
   * Seals the payment token for the payment service before anything stores it; `discard` removes
   * the key entry of a token whose request did not create the order.
   */
  tokens: Pick<TokenSealer, "seal" | "discard">;
  /** How long an Idempotency-Key is remembered (default 24 h, in ms). */
  idempotencyTtlMs?: number;
}

const IdParams = z.object({ id: IdSchema });
/**
 * `GET /orders/:id` and `/orders/:id/events` take no query parameter: any is 400 naming it, as on
 * the list route (break42 F4: `?asOf=2020-01-01` answered the present with 200; there is no "as
 * of" or version read over HTTP).
 */
export const NoQuery = z.strictObject({});
const ListQuery = z.strictObject({
  userId: IdSchema.optional(),
  limit: pageLimit(500).default(100),
  cursor: z
    .string()
    .refine((c) => decodeCursor(c) !== undefined, "cursor: the nextCursor of a previous page, unchanged")
    .optional(),
});

export function registerOrderRoutes(app: FastifyInstance, deps: OrderRoutesDeps): void {
  app.post("/orders", async (request, reply) => {
    const placed = await placeOrder(deps, request);
    // The gateway's deadline passed before the order's write ran (break35 F1): nothing was created.
    if (placed === "late") return reply.status(503).send(deadlinePassedBody(gatewayDeadlineOf(request)));
    if (!placed.replayed) {
      // The saga's id, minted here: the one its messages and log lines carry (break35 F5).
      return reply
        .header("x-correlation-id", placed.correlationId)
        .status(202)
        .send({ orderId: placed.orderId, status: "pending" });
    }
    // A replay answers what the order is now, not what it was when first placed.
    const order = await readView(deps, placed.orderId);
    return markReplayed(reply)
      .status(202)
      .send({ orderId: placed.orderId, status: order?.status ?? "pending", order });
  });

  app.get("/orders/:id", async (request) => {
    const { id } = parseInput(IdParams, request.params);
    parseQuery(NoQuery, request.query);
    const view = await readView(deps, id);
    if (!view) throw notFound("order", id);
    return view;
  });

  app.get("/orders/:id/events", async (request) => {
    const { id } = parseInput(IdParams, request.params);
    parseQuery(NoQuery, request.query);
    const history = await deps.repository.history(id);
    if (history.length === 0) throw notFound("order", id);
    // Only `data`: the payment token lives in the created event's metadata and stays there.
    const events = history.map((e) => ({
      type: e.type,
      version: e.version,
      time: e.recordedAt,
      data: e.data,
    }));
    // The trace id of the request that placed it (tracing on): the order's trace in the tracing UI.
    const traceId = traceIdOf(history[0]?.metadata.traceparent ?? "");
    return { orderId: id, events, ...(traceId === undefined ? {} : { traceId }) };
  });

  app.get("/orders", async (request) => {
    const { userId, limit, cursor } = parseQuery(ListQuery, request.query);
    // O(limit): a page of ids from the index, then their views (folded when a view lags behind).
    const page = await deps.list.page({ userId, limit, cursor });
    const loaded = await deps.views.load(page.ids);
    const views = await Promise.all(page.ids.map((id) => loaded.get(id)?.value ?? readView(deps, id)));
    const orders = views.filter((view): view is OrderView => view !== undefined);
    return { orders, ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }) };
  });

  app.post("/orders/:id/cancel", async (request, reply) => {
    const { id } = parseInput(IdParams, request.params);
    // The gateway's deadline is checked in the cancel's append too (fixdl): a late cancel, after the
    // client's conclusive check found the order not cancelled, would cancel an order it kept.
    const applyBy = gatewayDeadlineOf(request);
    const result = await deps.runner
      .run(id, { type: "cancel" }, deps.publisher, false, applyBy)
      .catch((error: unknown) => {
        if (error instanceof AppendDeadlineError) throw deadlinePassed(applyBy);
        throw error;
      });
    if (result.kind === "unknown") throw notFound("order", id);
    const rejected = result.decision.rejected;
    if (rejected)
      throw new AppError(rejected.code, rejected.message, { orderId: id, status: result.state.status });
    return reply.status(202).send({ orderId: id, status: result.state.status });
  });
}

/**
 * Places the order; with an Idempotency-Key, at most once per (client, key) within the TTL. The key
 * is recorded first with the order id it will create; the order's `no_stream` append then decides
 * between concurrent or retried requests, so a request that died between the two steps is finished
 * by its retry instead of being lost. Each request that reaches the append seals the token first
 * (it may be the one that creates the order); one whose append is refused removes its token's key
 * entry, so only the created order's token has one. `"late"`: the gateway's deadline (its
 * credential's, `gatewayDeadlineOf`) had passed by Redis `TIME` when the order's write ran, which
 * then wrote nothing (break35 F1: a request the gateway answered 504 must not land later).
 */
async function placeOrder(
  deps: OrderRoutesDeps,
  request: FastifyRequest,
): Promise<{ orderId: string; replayed: boolean; correlationId?: string } | "late"> {
  const { body, key } = parseKeyedInput(PlaceOrderBody, request);
  let orderId = deps.newOrderId();
  let requestHash: string | undefined;
  if (key !== undefined) {
    requestHash = sha256(stableStringify(body));
    const ttlMs = deps.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    const claim = await deps.idempotency.claim(
      idempotencyClientOf(request),
      key,
      { orderId, requestHash },
      ttlMs,
    );
    if (claim.record.requestHash !== requestHash) throw idempotencyKeyReused();
    orderId = claim.record.orderId;
    // A replay of an order that exists: answered before sealing, which would write (and for an
    // ended, shredded order re-create) its payment token key on every replay (break10 F5).
    if (!claim.created && (await deps.repository.version(orderId)) > 0) return { orderId, replayed: true };
  }
  // Sealed here: the token in clear never reaches the event store, a stream or a log.
  const paymentToken = await deps.tokens.seal(orderId, body.payment.token);
  const input = {
    orderId,
    userId: body.userId,
    items: body.items,
    paymentToken,
    correlationId: sagaCorrelationId(request),
    ...(requestHash === undefined ? {} : { requestHash }),
    ...activeTraceparent(),
  };
  try {
    await deps.runner.place(input, deps.publisher, gatewayDeadlineOf(request));
    return { orderId, replayed: false, correlationId: input.correlationId };
  } catch (error) {
    if (error instanceof AppendDeadlineError) {
      // Nothing holds this token: its entry goes, as for a replay's below.
      await discardToken(deps, request, orderId, paymentToken);
      return "late";
    }
    if (!(error instanceof ConcurrencyError) || requestHash === undefined) throw error;
    // The key's order exists already: this request is a replay of the one that created it, and its
    // sealed token is stored nowhere. Its key entry goes (break-gateway F4): else every concurrent
    // replay left one more, and one written after the order ended and was shredded re-created the
    // shredded key for its 7-day TTL. Only on this refusal: after any other failure the append may
    // have stored the token (a lost reply), and its entry must stay.
    await discardToken(deps, request, orderId, paymentToken);
    return { orderId, replayed: true };
  }
}

/**
 * Removes a token entry no order holds. A failure is logged, not answered: the order exists and the
 * replay's answer is right; the entry is then left to its TTL (`TOKEN_KEY_TTL_MS`, 7 days).
 */
async function discardToken(
  deps: OrderRoutesDeps,
  request: FastifyRequest,
  orderId: string,
  sealed: string,
): Promise<void> {
  try {
    await deps.tokens.discard(orderId, sealed);
  } catch (error) {
    request.log.warn({ err: error, orderId }, "unused payment token entry not removed; left to its TTL");
  }
}

/**
 * A new saga's correlation id: always minted here (break35 F5). A client's `x-correlation-id` used to
 * be adopted, so a client could name another customer's saga and merge its orders' messages, log
 * lines and traces into it (docs/security.md refuses client `traceparent` for the same reason). A sane
 * client value is kept beside it only: the request's span attribute CLIENT_CORRELATION_ATTRIBUTE
 * (and `clientCorrelationId` on a failed request's log line, lib/http/server.ts).
 */
function sagaCorrelationId(request: FastifyRequest): string {
  const header = request.headers["x-correlation-id"];
  // Without the header no parse: a failed safeParse builds a ZodError (~14 µs per order).
  if (typeof header === "string" && IdSchema.safeParse(header).success) {
    setActiveSpanAttribute(CLIENT_CORRELATION_ATTRIBUTE, header);
  }
  return newMessageId();
}

/**
 * The order view: one read. Every append writes the order's view in the same atomic step as its
 * events (an inline projection), so a view that exists is the order as stored (read your own
 * writes). Without one (dropped by `ORDER_VIEW_RETENTION_MS`, or no such order) the stream is folded.
 */
async function readView(deps: OrderRoutesDeps, orderId: string): Promise<OrderView | undefined> {
  const view = await deps.views.get(orderId);
  if (view) return view;
  const history = await deps.repository.history(orderId);
  return history.reduce<OrderView | undefined>(applyToView, undefined);
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
