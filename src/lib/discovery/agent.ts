/**
 * An instance's own side of discovery: register on start, heartbeat on a timer, deregister on stop.
 * A heartbeat that fails (Redis down) is logged and retried on the next tick; if the entry expired
 * meanwhile (or a health checker removed it), the next successful tick registers it again.
 */
import {
  DiscoveryEvents,
  type ServiceDeregisteredPayload,
  type ServiceHeartbeatPayload,
  type ServiceRegisteredPayload,
} from "./events.js";
import { startTicker } from "../runtime/ticker.js";
import { type Announce, announcer } from "./announcer.js";
import {
  type DiscoveryLogger,
  type DiscoveryPublish,
  type ServiceInstance,
  type ServiceRegistry,
  silentLogger,
} from "./types.js";

export interface ServiceAgentOptions {
  registry: ServiceRegistry;
  instance: Pick<ServiceInstance, "service" | "instanceId" | "address" | "port" | "version" | "metadata">;
  heartbeatIntervalMs?: number;
  /** Defaults to three intervals, so two lost heartbeats in a row do not drop the instance. */
  ttlMs?: number;
  publish?: DiscoveryPublish;
  logger?: DiscoveryLogger;
  /**
   * Epoch ms dating startedAt and lastHeartbeat, shown next to other hosts' (GET /services): the
   * platform's shared clock (Redis `TIME`), default `Date.now` (one process).
   */
  now?: () => number;
}

export interface ServiceAgent {
  /** The instance as registered at start. */
  readonly instance: ServiceInstance;
  /** One heartbeat now (what the timer does); never throws. */
  beat(): Promise<void>;
  /** Stops the timer, waits for a running heartbeat, deregisters and announces it. Idempotent. */
  stop(): Promise<void>;
}

interface AgentContext {
  registry: ServiceRegistry;
  ttlMs: number;
  now: () => number;
  logger: DiscoveryLogger;
  announce: Announce;
  fresh: () => ServiceInstance;
}

export async function startServiceAgent(options: ServiceAgentOptions): Promise<ServiceAgent> {
  const interval = options.heartbeatIntervalMs ?? 30_000;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const startedAt = new Date(now()).toISOString();
  const ctx: AgentContext = {
    registry: options.registry,
    ttlMs: options.ttlMs ?? 3 * interval,
    now,
    logger,
    announce: announcer(options.publish, logger),
    fresh: () => ({
      ...options.instance,
      startedAt,
      lastHeartbeat: new Date(now()).toISOString(),
      status: "healthy",
      consecutiveFailures: 0,
    }),
  };
  const instance = await register(ctx);
  logger.info({ service: instance.service, instanceId: instance.instanceId }, "service registered");
  const ticker = startTicker(interval, () => beat(ctx, instance));
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= ticker.stop().then(() => deregister(ctx, instance));
    return stopping;
  };
  return { instance, beat: ticker.run, stop };
}

async function register(ctx: AgentContext): Promise<ServiceInstance> {
  const entry = ctx.fresh();
  await ctx.registry.register(entry, ctx.ttlMs);
  const { service, instanceId, address, port, version, startedAt } = entry;
  const registered = {
    service,
    instanceId,
    address,
    port,
    version,
    startedAt,
  } satisfies ServiceRegisteredPayload;
  await ctx.announce(DiscoveryEvents.registered, registered);
  await replaceDeadEntries(ctx, entry);
  return entry;
}

/**
 * Entries of the same service at this instance's address and port with another id: a previous
 * process there died without deregistering (two live processes cannot listen on one port), so its
 * entry would be listed, and routed to, until its TTL ran out. Best effort: the TTL still applies.
 */
async function replaceDeadEntries(ctx: AgentContext, entry: ServiceInstance): Promise<void> {
  try {
    const stale = (await ctx.registry.list(entry.service)).filter(
      (i) => i.instanceId !== entry.instanceId && i.address === entry.address && i.port === entry.port,
    );
    for (const dead of stale) {
      if (!(await ctx.registry.deregister(dead.service, dead.instanceId))) continue;
      const { service, instanceId } = dead;
      const deregistered = { service, instanceId, reason: "replaced" } satisfies ServiceDeregisteredPayload;
      await ctx.announce(DiscoveryEvents.deregistered, deregistered);
      ctx.logger.info(
        { service, instanceId, replacedBy: entry.instanceId },
        "dead entry at this address replaced",
      );
    }
  } catch (error) {
    ctx.logger.warn(
      { err: error, service: entry.service },
      "could not replace dead entries; they will expire",
    );
  }
}

async function beat(ctx: AgentContext, { service, instanceId }: ServiceInstance): Promise<void> {
  try {
    const at = new Date(ctx.now()).toISOString();
    // Stamped with `at`: the registry's own clock is this host's wall clock (break22 F6).
    if (await ctx.registry.heartbeat(service, instanceId, ctx.ttlMs, at)) {
      await ctx.announce(DiscoveryEvents.heartbeat, {
        service,
        instanceId,
        at,
      } satisfies ServiceHeartbeatPayload);
      return;
    }
    ctx.logger.warn({ service, instanceId }, "registry entry had expired; registering again");
    await register(ctx);
  } catch (error) {
    ctx.logger.warn({ err: error, service, instanceId }, "heartbeat failed; retrying next tick");
  }
}

async function deregister(ctx: AgentContext, { service, instanceId }: ServiceInstance): Promise<void> {
  try {
    await ctx.registry.deregister(service, instanceId);
    const deregistered = { service, instanceId, reason: "shutdown" } satisfies ServiceDeregisteredPayload;
    await ctx.announce(DiscoveryEvents.deregistered, deregistered);
    ctx.logger.info({ service, instanceId }, "service deregistered");
  } catch (error) {
    // Nothing is lost: the entry expires on its own after its TTL.
    ctx.logger.warn({ err: error, service, instanceId }, "deregistration failed; the entry will expire");
  }
}
