/**
 * The services that make up the system, with their default ports. The system layer is the only
 * place that knows all of them; services never import each other.
 */
import type { EventRegistry } from "../lib/bus/events.js";
import type { ServiceDefinition } from "../lib/runtime/service-host.js";
import { inventoryService } from "../services/inventory/service.js";
import { notificationService } from "../services/notification/service.js";
import { orderService } from "../services/order/service.js";
import { paymentService } from "../services/payment/service.js";
import { shippingService } from "../services/shipping/service.js";
import { userService } from "../services/user/service.js";

export interface ServiceEntry {
  name: string;
  definition: ServiceDefinition<EventRegistry>;
  /** Port of the first instance when run as a process (extra instances pick a free one). */
  defaultPort: number;
  /** Entry point for the multi-process mode. */
  main: string;
}

const entry = (definition: ServiceDefinition<never>, defaultPort: number): ServiceEntry => ({
  name: definition.name,
  definition: definition as unknown as ServiceDefinition<EventRegistry>,
  defaultPort,
  main: `src/services/${definition.name}/main.ts`,
});

/** Consumers before producers: each service's groups exist before the saga sends it anything. */
export const SERVICES: readonly ServiceEntry[] = [
  entry(userService, 3001),
  entry(inventoryService, 3003),
  entry(paymentService, 3004),
  entry(shippingService, 3005),
  entry(notificationService, 3006),
  entry(orderService, 3002),
];

export const GATEWAY = { name: "gateway", defaultPort: 8080, main: "src/gateway/main.ts" } as const;
