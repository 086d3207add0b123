/**
 * The transport's own lines reach the service's log (newuser17 F7): `createRedisPlatform` built its
 * Streams transport without a logger, so "consumer group was missing", "lease lost", "handler
 * hung", "stop timed out"... were dropped in every service the host ran, against README step 4
 * ("recreates it ... with an error line").
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { createLogger } from "../observability/logger.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, type ServiceDeps, startService } from "./service-host.js";

const Events = defineEvents("logged", {
  "logged.tick": { schema: z.object({ n: z.number() }), description: "a message to handle" },
});

interface LogLine {
  level: string;
  msg: string;
  service?: string;
}

describeWithRedis("a service's transport lines", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await platform?.close();
    platform = undefined;
  });

  const run = async (platformLogged: boolean) => {
    const lines: LogLine[] = [];
    const logger = createLogger({
      service: "logged",
      level: "info",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    platform = createRedisPlatform({ url: getRedis().url, ...(platformLogged ? { logger } : {}) });
    const handled: number[] = [];
    let publisher: ServiceDeps<typeof Events>["publisher"] | undefined;
    service = await startService(
      {
        name: "logged",
        version: "1.0.0",
        create: (deps) => {
          publisher = deps.publisher;
          return {
            subscribers: [deps.subscriber().on("logged.tick", (p) => void handled.push(p.n)) as never],
          };
        },
      },
      { events: Events, platform, port: 0, logger },
    );
    await publisher!.publish("logged.tick", { n: 1 });
    await waitFor(() => handled.length === 1, 30_000, "the first message handled");
    const redis = getRedis().client();
    const key = eventStreamKey("logged", "logged.tick");
    await redis.xgroup("DESTROY", key, "logged");
    await publisher!.publish("logged.tick", { n: 2 });
    await waitFor(() => handled.includes(2), 30_000, "the message published after the group was destroyed");
    await waitFor(
      () => lines.some((l) => l.msg.startsWith("consumer group was missing")),
      30_000,
      "the transport's error line in the service's log",
    );
    const line = lines.find((l) => l.msg.startsWith("consumer group was missing"))!;
    expect(line.level).toBe("error");
    expect(line.service).toBe("logged");
    expect(handled).toEqual([1, 2]);
  };

  it("a group destroyed under a running service: recreated, the message handled, and the error line in the service's log (the host gives the platform its logger)", async () => {
    await run(false);
  }, 90_000);

  it("the same with the logger given to the platform (runServiceMain's way)", async () => {
    await run(true);
  }, 90_000);
});
