/**
 * Names and payloads of the events discovery announces. The Zod schemas live with the contracts
 * (owner `discovery`); these types say what this module sends so both sides can be checked.
 */
import type { InstanceStatus } from "./types.js";

export const DiscoveryEvents = {
  registered: "service.registered",
  deregistered: "service.deregistered",
  heartbeat: "service.heartbeat",
  healthStatus: "service.health.status",
} as const;

export type ServiceRegisteredPayload = {
  service: string;
  instanceId: string;
  address: string;
  port: number;
  version: string;
  startedAt: string;
};

export type DeregistrationReason = "shutdown" | "health_check_failed" | "expired" | "replaced";

export type ServiceDeregisteredPayload = {
  service: string;
  instanceId: string;
  reason: DeregistrationReason;
};

export type ServiceHeartbeatPayload = {
  service: string;
  instanceId: string;
  at: string;
};

export type ServiceHealthStatusPayload = {
  service: string;
  instanceId: string;
  status: InstanceStatus;
  consecutiveFailures: number;
  checkedAt: string;
  detail?: string;
};
