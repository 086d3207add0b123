/**
 * Step 1 of "Add an event and a service" (README): the event, defined once with its owner, a
 * description and a Zod schema. In the real system this file would be `src/contracts/loyalty.ts`
 * and `LoyaltyEvents` would join `AllEvents` in `src/contracts/catalog.ts`; the example keeps its
 * own catalog so that it changes nothing in the system.
 */
import { z } from "zod";
import { AllEvents } from "../../src/contracts/catalog.js";
import { OrderIdSchema, UserIdSchema } from "../../src/contracts/common.js";
import { combineRegistries, defineEvents } from "../../src/lib/bus/events.js";

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

/** The catalog the example runs with: the system's events plus its own. */
export const ExampleEvents = combineRegistries(AllEvents, LoyaltyEvents);
export type ExampleEvents = typeof ExampleEvents;
