/**
 * Rebuilds the order service's read models (src/services/order/README.md, "Rebuilding a read
 * model"; newuser19 F1): the remedy an order instance names when it refuses to start over a read
 * model whose rebuild did not finish (UnfinishedRebuildError), and the way to rebuild one lost or
 * renamed. Replays the global log `{order}:es:all` into it with the library's
 * `ProjectionRunner.rebuild()` (marker set, read model cleared, whole log replayed, marker removed).
 *
 * Stop the WHOLE system first: an order instance's appends racing the replay could be overwritten
 * by an older batch. Inside one `npm run start:services` a stopped child is restarted, so stop the
 * launcher (Ctrl-C in its terminal), not an order process. The command refuses while an order
 * instance is registered over this Redis and answers (the check `npm run start:services` makes for
 * "a system is already running": launch-guard.ts), and says so if one appeared during the rebuild.
 * Idempotent: running it again replays again. As the `ops` Redis user (it reads the registry and
 * every `{order}` read model key):
 *
 *   REDIS_URL=redis://ops:<password>@host:6379 npx tsx scripts/rebuild-read-model.ts <views|deadlines|list|all>
 *
 * (REDIS_USERNAME / REDIS_PASSWORD as the services take them.) Prints one line per read model
 * (events replayed, ms). Exits 0 when every named read model was rebuilt, 1 when refused or a
 * rebuild failed (its marker stays: run it again), 2 on a bad argument.
 */
import { Redis } from "ioredis";
import { type Projection, ProjectionRunner, type ReadModelStore } from "../src/lib/eventstore/index.js";
import { redisLogin } from "../src/lib/runtime/redis-password.js";
import { waitForRedis } from "../src/lib/runtime/redis-ready.js";
import { redactRedisUrl } from "../src/lib/runtime/redis-url.js";
import { orderListProjection } from "../src/services/order/order-list.js";
import { deadlineProjection, orderViewProjection } from "../src/services/order/projections.js";
import { createRedisOrderStores } from "../src/services/order/redis-store.js";
import type { OrderStores } from "../src/services/order/store.js";
import { findRunningProcesses, type RunningInstance } from "../src/system/launch-guard.js";

const READ_MODELS = ["views", "deadlines", "list"] as const;
type ReadModelName = (typeof READ_MODELS)[number];
const CHOICES = [...READ_MODELS, "all"] as const;

const args = process.argv.slice(2);
const which = args[0];
if (args.length !== 1 || !(CHOICES as readonly string[]).includes(which!)) {
  console.error(
    `usage: npx tsx scripts/rebuild-read-model.ts <${CHOICES.join("|")}>` +
      (args.length === 0 ? "" : ` (got ${args.map((a) => JSON.stringify(a)).join(" ")})`),
  );
  process.exit(2);
}
const names: readonly ReadModelName[] = which === "all" ? READ_MODELS : [which as ReadModelName];

const login = redisLogin({ ...process.env, REDIS_URL: process.env.REDIS_URL || "redis://localhost:6379" });
const where = redactRedisUrl(login.url);
const redis = new Redis(login.url, {
  maxRetriesPerRequest: 3,
  ...(login.username === undefined ? {} : { username: login.username }),
  ...(login.password === undefined ? {} : { password: login.password }),
});
redis.on("error", () => {});
let stores: OrderStores | undefined;

const orderInstances = async (): Promise<RunningInstance[]> =>
  (await findRunningProcesses(redis)).system.filter((i) => i.service === "order");
const named = (running: readonly RunningInstance[]) =>
  running.map((i) => `${i.instanceId} at ${i.url}`).join(", ");

try {
  await waitForRedis(redis, 10_000);
  const running = await orderInstances();
  if (running.length > 0) {
    console.error(
      `refused: ${running.length} order instance(s) running over ${where} (${named(running)}): stop the whole ` +
        "system first (Ctrl-C in the terminal of npm run start:services: a stopped child is restarted), then run this again",
    );
    process.exitCode = 1;
  } else {
    stores = createRedisOrderStores({ redis });
    const runners: Record<ReadModelName, ProjectionRunner<unknown>> = {
      views: runner(stores, orderViewProjection, stores.views),
      deadlines: runner(stores, deadlineProjection, stores.deadlines),
      list: runner(stores, orderListProjection, stores.list),
    };
    const projections = {
      views: orderViewProjection,
      deadlines: deadlineProjection,
      list: orderListProjection,
    };
    for (const name of names) {
      const readModel = projections[name].name;
      const unfinished = await runners[name].unfinishedRebuild();
      const started = Date.now();
      const replayed = await runners[name].rebuild().catch((error: unknown) => {
        throw new Error(
          `rebuild of ${readModel} failed (its rebuild marker stays; run this again): ${(error as Error).message ?? error}`,
        );
      });
      console.log(
        `rebuilt ${readModel} (${name}): ${replayed} events replayed in ${Date.now() - started} ms` +
          (unfinished === undefined ? "" : ` (completed the unfinished rebuild ${unfinished})`),
      );
    }
    const late = await orderInstances();
    if (late.length > 0) {
      console.error(
        `an order instance started during the rebuild (${named(late)}): its writes may have been replayed over; ` +
          "stop the whole system and run this again",
      );
      process.exitCode = 1;
    }
  }
} catch (error) {
  console.error(`could not rebuild over ${where}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await stores?.close?.();
  redis.disconnect();
}

function runner<V>(stores: OrderStores, projection: Projection<V>, readModel: ReadModelStore<V>) {
  return new ProjectionRunner<V>({
    events: stores.projectionEvents ?? stores.events,
    projection,
    readModel,
    batchSize: 500,
  }) as unknown as ProjectionRunner<unknown>;
}
