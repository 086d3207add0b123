/**
 * SERVICE_NAME renames an instance's registry name and consumer group, not who it signs as
 * (newuser17 F5): a renamed instance signed its own events with the renamed service's key, so every
 * consumer dead-lettered them (unknown key id, or WRONG_PRODUCER), and its streams were no longer
 * trimmed. It signs (and trims) as the owner of the events it publishes: the definition's name.
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { Subscriber } from "../bus/subscriber.js";
import { createLogger } from "../observability/logger.js";
import { Keyring } from "../security/keyring.js";
import { createVerifier } from "../security/signing.js";
import { waitFor } from "../../test-support/wait.js";
import { createMemoryPlatform, type Platform } from "./platform.js";
import { type RunningService, type ServiceDeps, startService } from "./service-host.js";

const Events = defineEvents("rewards", {
  "rewards.points.awarded": { schema: z.object({ n: z.number() }), description: "an award" },
});

let platform: Platform | undefined;
let service: RunningService | undefined;
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await platform?.close();
  platform = undefined;
});

it("a renamed instance (serviceName) registers and consumes under its name and signs as its events' owner", async () => {
  platform = createMemoryPlatform();
  // Only the owner's key: a consumer downstream holds "rewards", not "rewards-eu".
  const keyring = Keyring.generate(["rewards"]);
  let deps: ServiceDeps<typeof Events> | undefined;
  service = await startService(
    {
      name: "rewards",
      version: "1.0.0",
      create: (d) => {
        deps = d;
        return {};
      },
    },
    {
      events: Events,
      platform,
      port: 0,
      keyring,
      serviceName: "rewards-eu",
      logger: createLogger({ service: "rewards-eu", level: "silent" }),
    },
  );
  expect(service.name).toBe("rewards-eu");
  expect(deps!.name).toBe("rewards-eu");
  expect((await platform.registry.list("rewards-eu")).length).toBe(1);
  const received: number[] = [];
  const refused: string[] = [];
  const downstream = new Subscriber({
    events: Events,
    transport: platform.transport,
    group: "downstream",
    consumer: "d",
    verifier: createVerifier(keyring),
    onRefused: (reason) => void refused.push(reason),
  });
  downstream.on("rewards.points.awarded", ({ n }) => void received.push(n));
  await platform.transport.ensureGroups("downstream", downstream.topics());
  await downstream.start();
  try {
    await deps!.publisher.publish("rewards.points.awarded", { n: 1 });
    await waitFor(() => received.length + refused.length > 0, 10_000, "the award delivered");
    expect(refused).toEqual([]);
    expect(received).toEqual([1]);
  } finally {
    await downstream.stop();
  }
});
