/**
 * edge20: on SIGTERM a service waited on Redis without a limit (its registry removal first), so with
 * Redis paused or unreachable the stop ran into the 10 s force exit instead of closing cleanly.
 * Each Redis step of a stop now has a budget; past it the step is skipped with a warning.
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { createGateway } from "../../gateway/gateway.js";
import { createLogger } from "../observability/logger.js";
import { describeWithRedis, externalRedis } from "../../test-support/redis.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";

const Events = defineEvents("stoppy", {
  "stoppy.poked": { schema: z.object({ n: z.number() }), description: "poked" },
});

interface LogLine {
  level: string;
  msg: string;
  step?: string;
}

/** A logger whose lines are kept, parsed, in `lines`. */
function capturedLogger() {
  const lines: LogLine[] = [];
  const logger = createLogger({
    service: "stoppy",
    level: "info",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  });
  return { lines, logger };
}

/** `inside` resolves once `entered` is called (a handler or route has started). */
function signal() {
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  return { inside, entered };
}

describeWithRedis("a stop with Redis paused or down", (getRedis) => {
  let running: RunningService | undefined;
  let platform: Platform | undefined;
  afterEach(async () => {
    await running?.stop();
    await platform?.close();
    running = undefined;
    platform = undefined;
  });

  it("bounds the gateway's stop the same way (its registry removal) under CLIENT PAUSE WRITE", async () => {
    const lines: LogLine[] = [];
    const logger = createLogger({
      service: "gateway",
      level: "info",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    platform = createRedisPlatform({ url: getRedis().url });
    const gateway = await createGateway({ platform, port: 0, logger, healthCheckIntervalMs: 0 });
    const pauser = getRedis().client();
    await pauser.call("CLIENT", "PAUSE", "7000", "WRITE");
    try {
      const startedAt = performance.now();
      await gateway.stop();
      await platform.close(logger);
      platform = undefined;
      expect(performance.now() - startedAt).toBeLessThan(4_000);
      const skipped = lines.filter((l) => l.level === "warn" && l.step !== undefined).map((l) => l.step);
      expect(skipped).toContain("registry removal");
      expect(lines.some((l) => l.msg === "gateway stopped")).toBe(true);
    } finally {
      await pauser.call("CLIENT", "UNPAUSE");
    }
  }, 30_000);

  it("lets a handler in flight finish and acknowledge its message when Redis answers (the budget is for a Redis that does not)", async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    const { lines, logger } = capturedLogger();
    const { inside, entered } = signal();
    let finished = false;
    running = await startService(
      {
        name: "stoppy",
        version: "1.0.0",
        create: (deps) => {
          const subscriber = deps.subscriber();
          subscriber.on("stoppy.poked", async () => {
            entered();
            // Longer than a step's old 1 s budget, as a provider call within its timeout is.
            await new Promise((resolve) => setTimeout(resolve, 2_500));
            finished = true;
          });
          return {
            subscribers: [subscriber],
            routes: (app) =>
              app.post("/poke", async () => {
                await deps.publisher.publish("stoppy.poked", { n: 1 });
                return { ok: true };
              }),
          };
        },
      },
      { events: Events, platform, port: 0, logger },
    );
    expect((await fetch(`${running.url}/poke`, { method: "POST" })).status).toBe(200);
    await inside;
    await running.stop();
    running = undefined;
    expect(finished).toBe(true);
    expect(lines.filter((l) => l.step === "consumers")).toEqual([]);
    // Acknowledged: nothing left pending in any group of the topic's stream.
    const redis = getRedis().client();
    const streams = await redis.keys("*stoppy.poked*");
    expect(streams.length).toBeGreaterThan(0);
    for (const stream of streams) {
      if ((await redis.type(stream)) !== "stream") continue;
      const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
      for (const group of groups) expect(group[group.indexOf("pending") + 1]).toBe(0);
    }
  }, 30_000);

  // PAUSE WRITE / ALL: Redis answers nothing (for longer than the whole stop may take); down: killed,
  // ioredis retrying and queueing every command until it is back.
  for (const mode of ["WRITE", "ALL", "down"] as const) {
    it.skipIf(mode === "down" && externalRedis)(
      `finishes well within the force exit with Redis ${mode === "down" ? "down" : `under CLIENT PAUSE ${mode}`}, the in-flight request answered, and says which step it skipped`,
      async () => {
        platform = createRedisPlatform({ url: getRedis().url });
        const { lines, logger } = capturedLogger();
        const { inside, entered } = signal();
        running = await startService(
          {
            name: "stoppy",
            version: "1.0.0",
            create: (deps) => {
              const subscriber = deps.subscriber();
              subscriber.on("stoppy.poked", async () => undefined);
              return {
                subscribers: [subscriber],
                routes: (app) =>
                  app.get("/work", async () => {
                    entered();
                    await new Promise((resolve) => setTimeout(resolve, 1_000));
                    return { ok: true };
                  }),
              };
            },
          },
          {
            events: Events,
            platform,
            port: 0,
            drain: { quietMs: 100, lingerMs: 1_000, inFlightMs: 3_000 },
            logger,
          },
        );
        const work = fetch(`${running.url}/work`);
        await inside;
        const pauser = getRedis().client();
        // Longer than the whole stop may take: every Redis step must give up on its own.
        if (mode === "down") await getRedis().kill();
        else await pauser.call("CLIENT", "PAUSE", "10000", mode);
        try {
          const startedAt = performance.now();
          // What runServiceMain's SIGTERM does: the service's stop, then the platform's.
          await running.stop();
          await platform.close(logger);
          const tookMs = performance.now() - startedAt;
          running = undefined;
          platform = undefined;
          const response = await work;
          expect(response.status).toBe(200);
          expect(await response.json()).toEqual({ ok: true });
          expect(tookMs).toBeLessThan(8_500); // the force exit is at 10 s
          const skipped = lines.filter((l) => l.level === "warn" && l.step !== undefined);
          expect(skipped.map((l) => l.step)).toContain("registry removal");
          for (const line of skipped) expect(line.msg).toContain(line.step);
          expect(lines.some((l) => l.msg === "service stopped")).toBe(true);
        } finally {
          if (mode === "down") await getRedis().start();
          else await pauser.call("CLIENT", "UNPAUSE");
        }
      },
      30_000,
    );
  }
});
