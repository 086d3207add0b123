/** Events owned (published) by service discovery (the registry and its health checker). */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import { IdSchema, IsoTimestampSchema, ServiceNameSchema } from "./common.js";

export const DeregisterReasonSchema = z.enum(["shutdown", "health_check_failed", "expired", "replaced"]);
export type DeregisterReason = z.infer<typeof DeregisterReasonSchema>;

export const HealthStatusSchema = z.enum(["healthy", "unhealthy"]);
export type HealthStatus = z.infer<typeof HealthStatusSchema>;

/** Host name or IP address an instance listens on. */
export const AddressSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9.:[\]-]+$/, "must be a host name or IP address");
export const PortSchema = z.number().int().min(1).max(65_535);
export const VersionSchema = z.string().min(1).max(50);

const instance = { service: ServiceNameSchema, instanceId: IdSchema };

export const DiscoveryEvents = defineEvents("discovery", {
  "service.registered": {
    description: "Service joined cluster",
    schema: z.strictObject({
      ...instance,
      address: AddressSchema,
      port: PortSchema,
      version: VersionSchema,
      startedAt: IsoTimestampSchema,
    }),
  },
  "service.deregistered": {
    description: "Service left cluster",
    schema: z.strictObject({ ...instance, reason: DeregisterReasonSchema }),
  },
  "service.heartbeat": {
    description: "Service heartbeat",
    schema: z.strictObject({ ...instance, at: IsoTimestampSchema }),
  },
  "service.health.status": {
    description: "Health check result",
    schema: z.strictObject({
      ...instance,
      status: HealthStatusSchema,
      consecutiveFailures: z.number().int().nonnegative(),
      checkedAt: IsoTimestampSchema,
      detail: z.string().max(500).optional(),
    }),
  },
});

type E = typeof DiscoveryEvents;
export type ServiceRegistered = EventPayload<E, "service.registered">;
export type ServiceDeregistered = EventPayload<E, "service.deregistered">;
export type ServiceHeartbeat = EventPayload<E, "service.heartbeat">;
export type ServiceHealthStatus = EventPayload<E, "service.health.status">;
