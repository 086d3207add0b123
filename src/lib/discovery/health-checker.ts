/**
 * Calls every registered instance's health endpoint each round, records the verdict in the registry
 * and deregisters an instance after `unhealthyThreshold` consecutive failures.
 *
 * Several gateways may each run a checker. Failures are counted per checker (in memory) rather than
 * incremented in the registry, so two checkers do not halve the time to deregistration; the registry
 * reports whether a deregistration removed anything, so only one checker announces it.
 */
import {
  DiscoveryEvents,
  type ServiceDeregisteredPayload,
  type ServiceHealthStatusPayload,
} from "./events.js";
import { withTimeout } from "../resilience/timeout.js";
import { httpHealthCheck } from "./http-health-check.js";
import { startTicker } from "../runtime/ticker.js";
import { type Announce, announcer } from "./announcer.js";
import {
  type DiscoveryLogger,
  type DiscoveryPublish,
  type InstanceStatus,
  type ServiceInstance,
  type ServiceRegistry,
  silentLogger,
} from "./types.js";

export interface HealthCheckResult {
  ok: boolean;
  detail?: string;
  /**
   * Something else answers at the instance's address (another service or instance id): the entry
   * is deregistered at once, without waiting for the threshold, so no request reaches the impostor.
   */
  impostor?: boolean;
}

export type HealthCheck = (instance: ServiceInstance) => Promise<HealthCheckResult>;

export interface HealthCheckerOptions {
  registry: ServiceRegistry;
  intervalMs?: number;
  timeoutMs?: number;
  unhealthyThreshold?: number;
  /** Defaults to `GET http://address:port/health`, ok on a 2xx naming the instance's service and id. */
  check?: HealthCheck;
  publish?: DiscoveryPublish;
  logger?: DiscoveryLogger;
  now?: () => number;
  /**
   * After each round, the instances it listed, less those it deregistered: for a caller that needs
   * the registry's list on the same period (the gateway's breaker pruning), without reading it again.
   */
  onRound?: (live: readonly ServiceInstance[]) => void;
}

export interface HealthOutcome {
  service: string;
  instanceId: string;
  status: InstanceStatus;
  consecutiveFailures: number;
  deregistered: boolean;
  detail?: string;
}

export interface HealthChecker {
  /** One round over every live instance; what the timer runs. */
  runOnce(): Promise<HealthOutcome[]>;
  /** Stops the timer and waits for a running round. */
  stop(): Promise<void>;
}

/** A restarted instance (new startedAt) starts from zero failures. */
const counterKey = (i: ServiceInstance) => `${i.service}\u0000${i.instanceId}\u0000${i.startedAt}`;

interface CheckerContext {
  registry: ServiceRegistry;
  check: HealthCheck;
  timeoutMs: number;
  threshold: number;
  logger: DiscoveryLogger;
  announce: Announce;
  now: () => number;
  /** Consecutive failures seen by this checker, by counterKey. */
  failures: Map<string, number>;
  onRound: ((live: readonly ServiceInstance[]) => void) | undefined;
}

export function startHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const logger = options.logger ?? silentLogger;
  const ctx: CheckerContext = {
    registry: options.registry,
    check: options.check ?? httpHealthCheck(timeoutMs),
    timeoutMs,
    threshold: options.unhealthyThreshold ?? 3,
    logger,
    announce: announcer(options.publish, logger),
    now: options.now ?? Date.now,
    failures: new Map(),
    onRound: options.onRound,
  };
  const ticker = startTicker(options.intervalMs ?? 60_000, async () => {
    await runRound(ctx).catch((error: unknown) => logger.warn({ err: error }, "health check round failed"));
  });
  return { runOnce: () => runRound(ctx), stop: ticker.stop };
}

async function runRound(ctx: CheckerContext): Promise<HealthOutcome[]> {
  const instances = await ctx.registry.list();
  const settled = await Promise.allSettled(instances.map(async (i) => record(ctx, i, await probe(ctx, i))));
  const seen = new Set(instances.map(counterKey));
  for (const key of ctx.failures.keys()) if (!seen.has(key)) ctx.failures.delete(key);
  const outcomes: HealthOutcome[] = [];
  for (const result of settled) {
    if (result.status === "fulfilled") outcomes.push(result.value);
    else ctx.logger.warn({ err: result.reason }, "health verdict not recorded");
  }
  if (ctx.onRound) {
    const gone = new Set(
      outcomes.filter((o) => o.deregistered).map((o) => `${o.service}\u0000${o.instanceId}`),
    );
    ctx.onRound(instances.filter((i) => !gone.has(`${i.service}\u0000${i.instanceId}`)));
  }
  return outcomes;
}

async function probe(ctx: CheckerContext, instance: ServiceInstance): Promise<HealthCheckResult> {
  try {
    // Custom checks get the same bound as the default one, which also aborts its own fetch.
    return await withTimeout(ctx.check(instance), ctx.timeoutMs, {
      message: `timed out after ${ctx.timeoutMs} ms`,
    });
  } catch (error) {
    return { ok: false, detail: describeError(error) };
  }
}

async function record(
  ctx: CheckerContext,
  instance: ServiceInstance,
  result: HealthCheckResult,
): Promise<HealthOutcome> {
  const { service, instanceId } = instance;
  const key = counterKey(instance);
  const count = result.ok ? 0 : result.impostor ? ctx.threshold : (ctx.failures.get(key) ?? 0) + 1;
  const status: InstanceStatus = result.ok ? "healthy" : "unhealthy";
  // The service.health.status contract caps detail at 500 characters; an error text can be longer.
  const detail = result.detail === undefined ? {} : { detail: result.detail.slice(0, 500) };
  const outcome: HealthOutcome = {
    service,
    instanceId,
    status,
    consecutiveFailures: count,
    deregistered: false,
    ...detail,
  };
  const checkedAt = new Date(ctx.now()).toISOString();
  const statusEvent = {
    service,
    instanceId,
    status,
    consecutiveFailures: count,
    checkedAt,
    ...detail,
  } satisfies ServiceHealthStatusPayload;
  if (count < ctx.threshold) {
    ctx.failures.set(key, count);
    // False when the instance expired or was removed meanwhile: nothing to announce then.
    if (await ctx.registry.setHealth(service, instanceId, status, count)) {
      await ctx.announce(DiscoveryEvents.healthStatus, statusEvent);
    }
    return outcome;
  }
  ctx.failures.delete(key);
  outcome.deregistered = await ctx.registry.deregister(service, instanceId);
  await ctx.announce(DiscoveryEvents.healthStatus, statusEvent);
  if (outcome.deregistered) {
    ctx.logger.warn({ service, instanceId, failures: count, detail: result.detail }, "instance deregistered");
    const deregistered = {
      service,
      instanceId,
      reason: "health_check_failed",
    } satisfies ServiceDeregisteredPayload;
    await ctx.announce(DiscoveryEvents.deregistered, deregistered);
  }
  return outcome;
}

/** fetch hides the useful part ("ECONNREFUSED") in `cause`. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
