/** Events owned (published) by the user service. */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  NotificationPreferencesSchema,
  OrderIdSchema,
  PersonNameSchema,
  ReasonSchema,
  SealedContactSchema,
  UserIdSchema,
} from "./common.js";

/** Profile fields a `user.updated` can report as changed. */
export const UserFieldSchema = z.enum(["email", "name", "phone", "preferences"]);
export type UserField = z.infer<typeof UserFieldSchema>;

// Email and phone travel sealed (AES-256-GCM, src/lib/security/user-data.ts): only the user and
// notification services hold the keys that open them.
const profile = {
  userId: UserIdSchema,
  email: SealedContactSchema,
  name: PersonNameSchema,
  phone: SealedContactSchema.optional(),
  preferences: NotificationPreferencesSchema,
  // The user record's version after this write (1 on creation, +1 on every write: the user store's
  // optimistic version). Consumers order a user's changes by it, never by `occurredAt`, which is a
  // publisher's clock and may step back (break35 F7; DESIGN §6). Optional only so that events from
  // before it (still in streams, or parked in the DLQ) validate; every new event carries it.
  version: z.number().int().positive().optional(),
};

export const UserEvents = defineEvents("user", {
  "user.created": {
    description: "New user registered",
    schema: z.strictObject(profile),
  },
  "user.updated": {
    description: "User profile updated",
    // Carries the full profile, not a diff, so consumers keep a read model without ordering games:
    // a phone removed (PUT {"phone": null}) is absent, with "phone" in `changed`.
    schema: z.strictObject({ ...profile, changed: z.array(UserFieldSchema).min(1) }),
  },
  "user.deleted": {
    description: "User account deleted",
    schema: z.strictObject({ userId: UserIdSchema }),
  },
  "user.validated": {
    description: "User validation completed",
    schema: z.strictObject({
      orderId: OrderIdSchema,
      userId: UserIdSchema,
      valid: z.boolean(),
      reason: ReasonSchema.optional(),
    }),
  },
});

export type UserCreated = EventPayload<typeof UserEvents, "user.created">;
export type UserUpdated = EventPayload<typeof UserEvents, "user.updated">;
export type UserDeleted = EventPayload<typeof UserEvents, "user.deleted">;
export type UserValidated = EventPayload<typeof UserEvents, "user.validated">;
