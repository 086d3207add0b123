/**
 * The API gateway: `createGateway` (validation at the edge, API-key auth, discovery-based load
 * balancing with a circuit breaker per instance, DLQ operations, metrics, OpenAPI), and the pieces
 * it is made of for reuse and tests.
 */
export { callerOf, installApiKeyAuth, PUBLIC_ROUTES, presentedKey } from "./auth.js";
export { type GatewayEnv, gatewayEnvSchema } from "./config.js";
export {
  createGateway,
  GATEWAY_SERVICE,
  GATEWAY_VERSION,
  type Gateway,
  type GatewayOptions,
} from "./gateway.js";
export { buildOpenApiDocument, type OpenApiOptions, openApiPath } from "./openapi.js";
export {
  type GatewayBreakerOptions,
  type ProxyOptions,
  UpstreamProxy,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./proxy.js";
export { proxyRoutes } from "./routes/proxied.js";
export type { HttpMethod, ProxyRoute, RouteDoc } from "./routes/types.js";
export {
  aggregateHealth,
  type InstanceHealthReport,
  type ServiceHealth,
  type ServiceHealthReport,
} from "./service-health.js";
