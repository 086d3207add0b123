/** The whole event catalog: every service's registry joined (throws at load if a name is defined twice). */
import type { EventInput, EventName, EventPayload } from "../lib/bus/events.js";
import { combineRegistries } from "../lib/bus/events.js";
import { DiscoveryEvents } from "./discovery.js";
import { InventoryEvents } from "./inventory.js";
import { MetricsEvents } from "./metrics.js";
import { NotificationEvents } from "./notification.js";
import { OrderEvents } from "./order.js";
import { PaymentEvents } from "./payment.js";
import { ShippingEvents } from "./shipping.js";
import { UserEvents } from "./user.js";

export const AllEvents = combineRegistries(
  UserEvents,
  OrderEvents,
  InventoryEvents,
  PaymentEvents,
  ShippingEvents,
  NotificationEvents,
  DiscoveryEvents,
  MetricsEvents,
);

export type AllEventName = EventName<typeof AllEvents>;
/** Payload of any catalog event, after parsing (defaults applied). */
export type AnyEventPayload<N extends AllEventName> = EventPayload<typeof AllEvents, N>;
/** What a publisher may pass for any catalog event (defaults not yet applied). */
export type AnyEventInput<N extends AllEventName> = EventInput<typeof AllEvents, N>;
