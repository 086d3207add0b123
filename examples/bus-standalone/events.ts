// The events of the standalone example: one owner ("greeter"), one event, a Zod schema.
import { z } from "zod";
import { defineEvents } from "../../src/lib/bus/index.js";

export const GreeterEvents = defineEvents("greeter", {
  "greeting.sent": {
    schema: z.object({ to: z.string().min(1), attempt: z.number().int().nonnegative() }),
    description: "A greeting was sent to someone",
  },
});
