/**
 * Step 1 of "Add an event and a service" (README): the event, defined once with its owner, a
 * description and a Zod schema. In the real system this file would be `src/contracts/loyalty.ts`
 * and `LoyaltyEvents` would join `AllEvents` in `src/contracts/catalog.ts`; the example keeps its
 * own catalog so that it changes nothing in the system.
 */
import { z } from "zod";
import { AllEvents } from "../../src/contracts/catalog.js";
import { OrderIdSchema, UserIdSchema } from "../../src/contracts/common.js";
import { combineRegistries, defineEvents, type EventRegistry } from "../../src/lib/bus/events.js";

export const LoyaltyEvents = defineEvents("loyalty", {
  "loyalty.points.awarded": {
    description: "Points awarded for a completed order (1 point per whole 100 cents)",
    schema: z.strictObject({
      userId: UserIdSchema,
      orderId: OrderIdSchema,
      points: z.number().int().nonnegative(),
    }),
  },
});

/**
 * The catalog the example runs with: the system's events plus its own. Events `loyalty` owns are
 * taken from the example, not the system: once the guide is followed (LoyaltyEvents copied into
 * src/contracts and AllEvents), the example still runs instead of finding the event defined twice.
 */
export function exampleCatalog<R extends EventRegistry>(system: R): R & typeof LoyaltyEvents {
  const others = Object.fromEntries(Object.entries(system).filter(([, def]) => def.owner !== "loyalty"));
  return combineRegistries(others, LoyaltyEvents) as R & typeof LoyaltyEvents;
}

export const ExampleEvents = exampleCatalog(AllEvents);
export type ExampleEvents = typeof ExampleEvents;
