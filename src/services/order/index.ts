/**
 * The order service: the saga orchestrator, event-sourced (one stream per order), with a CQRS
 * read side. Offers the service definition, the pure saga (`place`, `decide`, `evolve`), the
 * projections, and the store ports with their memory and Redis adapters.
 */
export type { OrderDomainEvent, SagaStep } from "./events.js";
export { REPLY_EVENTS, type ReplyEvent, registerOrderHandlers } from "./handlers.js";
export { ORDER_TAG, orderStreamId } from "./keys.js";
export {
  type DeadlineView,
  deadlineProjection,
  type OrderView,
  type OrderViewLine,
  orderViewProjection,
} from "./projections.js";
export { createRedisOrderStores, RedisDeadlineIndex } from "./redis-store.js";
export { type LoadedOrder, OrderRepository } from "./repository.js";
export { registerOrderRoutes } from "./routes.js";
export {
  CANCEL_REASON,
  compensationsFor,
  DEFAULT_SAGA_OPTIONS,
  decide,
  type PlaceInput,
  place,
  type SagaCommand,
  type SagaDecision,
  type SagaInput,
  type SagaOptions,
} from "./saga.js";
export { type CommandPreparer, type RunResult, SagaRunner } from "./saga-runner.js";
export {
  createOrderService,
  type OrderServiceInternals,
  type OrderServiceOptions,
  orderService,
} from "./service.js";
export { evolve, foldEvents, foldStored, type OrderState } from "./state.js";
export {
  createMemoryOrderStores,
  type DeadlineIndex,
  MemoryDeadlineIndex,
  type OrderStores,
} from "./store.js";
export { DeadlineSweeper } from "./sweeper.js";
