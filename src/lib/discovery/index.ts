/**
 * Service discovery: a registry of live instances whose entries expire unless heartbeats refresh
 * them (memory and Redis adapters), the agent an instance runs to register and heartbeat, a health
 * checker that deregisters failing instances, and the gateway's client that picks an instance.
 */
export { type ServiceAgent, type ServiceAgentOptions, startServiceAgent } from "./agent.js";
export { DiscoveryClient, type DiscoveryClientOptions, type InstanceBreaker } from "./client.js";
export { DiscoveryError, type DiscoveryErrorCode } from "./errors.js";
export {
  type DeregistrationReason,
  DiscoveryEvents,
  type ServiceDeregisteredPayload,
  type ServiceHealthStatusPayload,
  type ServiceHeartbeatPayload,
  type ServiceRegisteredPayload,
} from "./events.js";
export {
  type HealthCheck,
  type HealthChecker,
  type HealthCheckerOptions,
  type HealthCheckResult,
  type HealthOutcome,
  startHealthChecker,
} from "./health-checker.js";
export { httpHealthCheck } from "./http-health-check.js";
export { instanceKey, serviceIndexKey, servicesKey } from "./keys.js";
export { MemoryServiceRegistry, type MemoryServiceRegistryOptions } from "./memory-registry.js";
export { RedisServiceRegistry, type RedisServiceRegistryOptions } from "./redis-registry.js";
export {
  type DiscoveryLogger,
  type DiscoveryPublish,
  type InstanceStatus,
  type ServiceInstance,
  type ServiceRegistry,
  silentLogger,
} from "./types.js";
export { serviceInstanceSchema } from "./validate.js";
