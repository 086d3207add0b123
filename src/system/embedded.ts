/**
 * The whole system in one process: every service and the gateway on one platform — in-memory by
 * default (no Redis needed), or Redis when a platform is given. Services still talk only through the
 * bus and the gateway still reaches them over HTTP through the registry, exactly as when they run as
 * separate processes.
 */
import { serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { randomBytes } from "node:crypto";
import { AllEvents } from "../contracts/index.js";
import { createGateway, type GatewayOptions } from "../gateway/gateway.js";
import { createLogger, type Logger, stdoutDestination } from "../lib/observability/logger.js";
import { createMemoryPlatform, type Platform } from "../lib/runtime/platform.js";
import { type RunningService, startService } from "../lib/runtime/service-host.js";
import { SERVICES } from "./catalog.js";
import { assertPortFree } from "./port-probe.js";

export interface EmbeddedSystemOptions {
  platform?: Platform;
  /** Gateway port (default 8080; 0 picks a free one). */
  gatewayPort?: number;
  host?: string;
  logLevel?: string;
  /** Human-readable log lines (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Where every log line goes (tests that read the logs); default stdout. */
  logDestination?: { write(line: string): void };
  /** Gateway API keys (default none: open). */
  apiKeys?: readonly string[];
  /** The gateway's upstream timeout (ms) and health check interval (ms): its defaults if unset. */
  upstreamTimeoutMs?: number;
  healthCheckIntervalMs?: number;
  /** Admin API keys (default none). */
  adminKeys?: readonly string[];
  /** Per-API-key rate limit (the gateway's default if unset). */
  rateLimit?: { perMinute: number; burst?: number };
  /** Failed authentications per client address and minute before 429 (gateway default 10; 0: off). */
  authFailuresPerMinute?: number;
  /** Proxies whose X-Forwarded-For gives the client's address (GATEWAY_TRUST_PROXY; default none). */
  trustProxy?: readonly string[];
  /** GATEWAY_MAX_CONNECTIONS, GATEWAY_MAX_CONNECTIONS_PER_ADDRESS, GATEWAY_KEEP_ALIVE_TIMEOUT_MS. */
  connectionLimits?: Pick<
    GatewayOptions,
    "maxConnections" | "maxConnectionsPerAddress" | "keepAliveTimeoutMs"
  >;
  /**
   * The secret the gateway signs its calls to the services with; default: a random one made here,
   * so the services' ports serve only this gateway with no setup.
   */
  sharedSecret?: string;
}

export interface EmbeddedSystem {
  gatewayUrl: string;
  platform: Platform;
  services: RunningService[];
  /** The secret the services' ports require from callers (`gatewayHeaders` signs with it). */
  sharedSecret: string;
  /** Writes text to where the log lines go, after every line logged so far (the start banner). */
  print(text: string): void;
  stop(): Promise<void>;
}

export async function startEmbeddedSystem(options: EmbeddedSystemOptions = {}): Promise<EmbeddedSystem> {
  const platform = options.platform ?? createMemoryPlatform();
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  // One stream for every logger of the process (and `print`): pino writes in the background, so
  // with a stream per service their lines came out of order, some after the start banner.
  const destination = options.logDestination ?? stdoutDestination();
  const loggerFor = (service: string): Logger =>
    createLogger({
      service,
      pretty,
      ...(options.logLevel ? { level: options.logLevel } : {}),
      destination,
    });
  const services: RunningService[] = [];
  const sharedSecret = options.sharedSecret ?? randomBytes(32).toString("hex");
  // A gateway port already taken fails the start before any service starts (newuser10 F3: their
  // start and stop lines came after the one-line reason and scrolled it away).
  if (options.gatewayPort) await assertPortFree(options.gatewayPort, options.host ?? "127.0.0.1");
  try {
    for (const { definition } of SERVICES) {
      services.push(
        await startService(definition, {
          events: AllEvents,
          platform,
          port: 0,
          host: options.host ?? "127.0.0.1",
          logger: loggerFor(definition.name),
          // Its own secret, derived from the gateway's master (break-12 F8).
          gatewaySecret: serviceCredentialSecret(sharedSecret, definition.name),
        }),
      );
    }
    const gateway = await createGateway({
      platform,
      port: options.gatewayPort ?? 8080,
      host: options.host ?? "127.0.0.1",
      logger: loggerFor("gateway"),
      // One /metrics for the whole process: the gateway's and every service's series.
      metricsOf: () => services.map((s) => s.metrics),
      ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
      ...(options.adminKeys ? { adminKeys: options.adminKeys } : {}),
      sharedSecret,
      ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
      ...(options.authFailuresPerMinute === undefined
        ? {}
        : { authFailuresPerMinute: options.authFailuresPerMinute }),
      ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
      ...options.connectionLimits,
      ...(options.upstreamTimeoutMs ? { upstreamTimeoutMs: options.upstreamTimeoutMs } : {}),
      ...(options.healthCheckIntervalMs ? { healthCheckIntervalMs: options.healthCheckIntervalMs } : {}),
    });
    return {
      gatewayUrl: gateway.url,
      platform,
      services,
      sharedSecret,
      print: (text) => void destination.write(text),
      stop: async () => {
        await gateway.stop();
        for (const service of [...services].reverse()) await service.stop();
        await platform.close();
      },
    };
  } catch (error) {
    for (const service of services.reverse()) await service.stop().catch(() => {});
    await platform.close().catch(() => {});
    throw error;
  }
}
