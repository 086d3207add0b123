/**
 * HTTP routes of the order service (proxied by the gateway). Writes go through the saga runner
 * (one atomic append each); reads come from the order view, falling back to folding the stream
 * when the projection has not caught up, so a client always reads its own writes.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { IdSchema, PlaceOrderBody } from "../../contracts/index.js";
import { newMessageId } from "../../lib/bus/envelope.js";
import { stableStringify } from "../../lib/bus/idempotency-key.js";
import { ConcurrencyError, type ReadModelStore } from "../../lib/eventstore/index.js";
import { AppError, notFound, parseInput } from "../../lib/http/index.js";
import { orderIdForIdempotencyKey } from "./keys.js";
import { applyToView, type OrderView } from "./projections.js";
import type { OrderRepository } from "./repository.js";
import type { CommandPreparer, SagaRunner } from "./saga-runner.js";

export interface OrderRoutesDeps {
  runner: SagaRunner;
  repository: OrderRepository;
  views: ReadModelStore<OrderView>;
  publisher: CommandPreparer;
  newOrderId: () => string;
}

const IdempotencyKeySchema = z.string().min(1).max(200);
const IdParams = z.object({ id: IdSchema });
const ListQuery = z.object({
  userId: IdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export function registerOrderRoutes(app: FastifyInstance, deps: OrderRoutesDeps): void {
  app.post("/orders", async (request, reply) => {
    const orderId = await placeOrder(deps, request);
    return reply.status(202).send({ orderId, status: "pending" });
  });

  app.get("/orders/:id", async (request) => {
    const { id } = parseInput(IdParams, request.params);
    const view = await readView(deps, id);
    if (!view) throw notFound("order", id);
    return view;
  });

  app.get("/orders/:id/events", async (request) => {
    const { id } = parseInput(IdParams, request.params);
    const history = await deps.repository.history(id);
    if (history.length === 0) throw notFound("order", id);
    // Only `data`: the payment token lives in the created event's metadata and stays there.
    const events = history.map((e) => ({
      type: e.type,
      version: e.version,
      time: e.recordedAt,
      data: e.data,
    }));
    return { orderId: id, events };
  });

  app.get("/orders", async (request) => {
    const { userId, limit } = parseInput(ListQuery, request.query);
    const all = [...(await deps.views.all()).values()];
    const orders = all.filter((view) => userId === undefined || view.userId === userId);
    orders.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    return { orders: orders.slice(0, limit) };
  });

  app.post("/orders/:id/cancel", async (request, reply) => {
    const { id } = parseInput(IdParams, request.params);
    const result = await deps.runner.run(id, { type: "cancel" }, deps.publisher);
    if (result.kind === "unknown") throw notFound("order", id);
    const rejected = result.decision.rejected;
    if (rejected)
      throw new AppError(rejected.code, rejected.message, { orderId: id, status: result.state.status });
    return reply.status(202).send({ orderId: id, status: result.state.status });
  });
}

async function placeOrder(deps: OrderRoutesDeps, request: FastifyRequest): Promise<string> {
  const body = parseInput(PlaceOrderBody, request.body);
  const key = idempotencyKeyOf(request);
  const requestHash = key === undefined ? undefined : sha256(stableStringify(body));
  const orderId = key === undefined ? deps.newOrderId() : orderIdForIdempotencyKey(key);
  const input = {
    orderId,
    userId: body.userId,
    items: body.items,
    paymentToken: body.payment.token,
    correlationId: correlationIdOf(request),
    ...(requestHash === undefined ? {} : { requestHash }),
  };
  try {
    await deps.runner.place(input, deps.publisher);
  } catch (error) {
    if (!(error instanceof ConcurrencyError) || requestHash === undefined) throw error;
    // The key's order exists: a retry of the same request gets the first answer, anything else 422.
    const first = (await deps.repository.history(orderId))[0];
    if (first?.metadata.requestHash !== requestHash) {
      throw new AppError("IDEMPOTENCY_KEY_REUSED", "Idempotency-Key was already used with a different body");
    }
  }
  return orderId;
}

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers["idempotency-key"];
  if (raw === undefined) return undefined;
  return parseInput(IdempotencyKeySchema, Array.isArray(raw) ? raw.join(",") : raw);
}

/** The caller's correlation id when it is a sane id, else a new one (it names the whole saga). */
function correlationIdOf(request: FastifyRequest): string {
  const header = request.headers["x-correlation-id"];
  const parsed = IdSchema.safeParse(header);
  return parsed.success ? parsed.data : newMessageId();
}

/** The order view; folded from the stream when the projection is behind (read your own writes). */
async function readView(deps: OrderRoutesDeps, orderId: string): Promise<OrderView | undefined> {
  const [view, version] = await Promise.all([deps.views.get(orderId), deps.repository.version(orderId)]);
  if (version === 0) return undefined;
  if (view && view.version >= version) return view;
  const history = await deps.repository.history(orderId);
  return history.reduce<OrderView | undefined>(applyToView, undefined);
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
