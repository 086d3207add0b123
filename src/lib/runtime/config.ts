import { z } from "zod";
import { nativeHmacSetting } from "../security/native-hmac.js";
import { MIN_SECRET_LENGTH } from "../security/placeholders.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** setTimeout's largest delay: a longer one overflows and fires after 1 ms (break-gw F3). */
export const MAX_TIMER_MS = 2_147_483_647;
/**
 * A duration (ms) a process arms a timer with: refused at start above MAX_TIMER_MS, where Node would
 * run the timer after 1 ms instead (every heartbeat, claim round or connect attempt at once).
 */
export const timerMs = z.coerce
  .number()
  .int()
  .positive()
  .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest timer Node runs)`);

/**
 * Tracing variables every process reads (lib/observability/tracing.ts reads them from the
 * environment; listed here so they are validated and documented with the rest). The other
 * standard OTEL_* variables go straight to the OpenTelemetry SDK.
 */
/** OTLP protocols the trace exporter speaks: JSON or protobuf over HTTP (no gRPC). */
export const OTLP_PROTOCOLS = ["http/json", "http/protobuf"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** An OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL value: one of OTLP_PROTOCOLS, or empty (unset). */
const otlpProtocol = z
  .enum([...OTLP_PROTOCOLS, ""], {
    error: (issue) =>
      `unsupported OTLP protocol ${JSON.stringify(issue.input)}: use http/json (the default) or http/protobuf`,
  })
  .optional();

export const tracingEnvShape = {
  /** OTLP/HTTP collector base URL (e.g. http://localhost:4318); set, it turns tracing on. Empty: unset. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.union([z.literal(""), z.string().url()]).optional(),
  /** true: spans (and trace ids in logs) even without an exporter; false: off whatever else is set. */
  TRACING_ENABLED: z.enum(["true", "false", "1", "0", ""]).optional(),
  /** `http/json` (default) or `http/protobuf`; anything else (`grpc`) refuses to start. */
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  /** The same for traces only; wins over OTEL_EXPORTER_OTLP_PROTOCOL. */
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  /**
   * How long (ms) a stopping process waits for its last spans to be exported (default 1500): a slow
   * or dead collector must not make a graceful stop hang into the 10 s force-exit (break13 F6).
   * Armed as a timer: capped like every timer (timerMs).
   */
  TRACING_SHUTDOWN_TIMEOUT_MS: z.union([z.literal(""), timerMs]).optional(),
  /**
   * Not tracing, but read by every process the same way: the native HMAC for bus signatures
   * (`0`/`false` off, `1`/`true` required: refused at start when unavailable; see native-hmac.ts).
   */
  BUS_NATIVE_HMAC: nativeHmacSetting,
};

/** The environment of one service process, with the spec's names and defaults. */
/** An empty variable counts as unset (the launcher blanks an inherited secret a child must not hold). */
export const emptyIsUnset = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema);

/**
 * REDIS_URL: `redis://` or `rediss://` (ioredis took `http://host:port` for a Unix socket path:
 * "connect ENOENT //host:port"), with an optional whole-number database after the port (Redis
 * answered "/abc" with a bare "ERR value is not an integer"). Empty counts as unset.
 */
const NOT_A_URL =
  "is not a URL (not shown: it may hold a password); a password with / + = @ : # ? or % must be percent-encoded (encodeURIComponent), or given in REDIS_PASSWORD";

export const redisUrlSchema = emptyIsUnset(
  z
    .string()
    .url({ message: NOT_A_URL })
    .superRefine((value, ctx) => {
      // zod runs this after a failed .url() too: a throw here escaped as a stack trace quoting the
      // URL, password included (break44 F1). Never quote the value: it may carry the password.
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: "custom", message: NOT_A_URL });
        return;
      }
      if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
        ctx.addIssue({
          code: "custom",
          message: `must start with redis:// or rediss:// (got ${url.protocol}//): e.g. redis://localhost:6379/0`,
        });
        return;
      }
      const db = url.pathname.replace(/^\//, "");
      if (db !== "" && !/^\d+$/.test(db))
        ctx.addIssue({
          code: "custom",
          message: `the database after the port must be a whole number, as in redis://localhost:6379/2 (got "${db}")`,
        });
    })
    .default("redis://localhost:6379"),
);

/** The NODE_ENV values a process knows; a typo (`prod`) ran silently with the development defaults. */
export const NODE_ENVS = ["development", "production", "test"] as const;
/** NODE_ENV: one of NODE_ENVS (default development; empty counts as unset). */
export const nodeEnvSchema = emptyIsUnset(
  z
    .enum(NODE_ENVS, {
      error: (issue) =>
        `must be development, production or test (got ${JSON.stringify(issue.input)}): anything else would run with the development defaults`,
    })
    .default("development"),
);

export const serviceEnvSchema = z.object({
  ...tracingEnvShape,
  /** Empty counts as unset (the default). */
  REDIS_URL: redisUrlSchema,
  /** Redis ACL user this process connects as (docs/security.md "Redis ACL"); default: the URL's. */
  REDIS_USERNAME: z.string().min(1).optional(),
  /** Password of REDIS_USERNAME (keep it in an env file that is not committed). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  SERVICE_NAME: z.string().min(1).optional(),
  SERVICE_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Address to bind and to advertise in the registry. */
  SERVICE_HOST: z.string().min(1).default("127.0.0.1"),
  /** Address other processes reach this one at (default: SERVICE_HOST; set it when binding 0.0.0.0). */
  SERVICE_ADVERTISE_HOST: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** How long (ms) to wait for Redis at start before exiting 1 with the reason (later drops reconnect). */
  REDIS_CONNECT_TIMEOUT_MS: timerMs.default(10_000),
  /**
   * Consumer name of this process in its service's groups. Default: `<service>-<hostname>-<slot>`,
   * stable across restarts of one process slot (see `newInstanceId`).
   */
  INSTANCE_ID: z.string().min(1).optional(),
  /** Process slot on this host (1, 2, ...) set by a supervisor; pm2's NODE_APP_INSTANCE also counts. */
  INSTANCE_SLOT: z
    .string()
    .regex(/^[\w.-]+$/)
    .optional(),
  HEARTBEAT_INTERVAL_MS: timerMs.default(30_000),
  /**
   * Idle time (ms) before another instance takes over a silent consumer's pending events. Live
   * handlers renew their leases every third of it, so only dead instances' work moves (in 5-10 s).
   */
  CLAIM_IDLE_MS: timerMs.default(5_000),
  /** How long (ms) a must-complete message is retried before it is dead-lettered (default 6 h). */
  BUS_MUST_COMPLETE_WINDOW_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(6 * 3_600_000),
  /** Consumers with nothing pending, unseen this long (ms), leave their groups (default 1 h). */
  BUS_DEAD_CONSUMER_MS: z.coerce.number().int().positive().default(3_600_000),
  /** "production" refuses to start on a Redis that cannot keep the delivery promises. */
  NODE_ENV: nodeEnvSchema,
  /**
   * The gateway's secret: when set, the HTTP port serves only requests carrying the gateway's
   * `X-Gateway-Auth` (but /health, /health/live, /metrics). At least 32 characters; required with
   * NODE_ENV=production. Unset (development): the port serves anyone, as before.
   */
  GATEWAY_SHARED_SECRET: emptyIsUnset(z.string().min(MIN_SECRET_LENGTH).optional()),
  /**
   * This service's own gateway credential secret, HMAC-SHA256(master, "ordersaga gateway credential
   * v1\n<service>") in hex (`serviceCredentialSecret`): verifies the gateway's calls to this service
   * only. Preferred over GATEWAY_SHARED_SECRET (the master), which a service should not hold.
   */
  GATEWAY_SERVICE_SECRET: emptyIsUnset(z.string().min(MIN_SECRET_LENGTH).optional()),
});

export type ServiceEnv = z.infer<typeof serviceEnvSchema>;

export class ConfigError extends Error {
  readonly code = "INVALID_CONFIG";

  /**
   * @param issues zod's issues (or hand-made ones), one line per variable.
   * @param env the parsed environment: a value that is not a number is quoted from it (zod's issue
   *   says only "received NaN", the coerced value, not what the user typed: newuser9 F6).
   */
  constructor(
    issues: readonly { path: readonly PropertyKey[]; message: string; expected?: unknown }[],
    env?: Readonly<Record<string, unknown>>,
  ) {
    // One reason per variable: `.int().max(n)` fails twice for 1e30 (zod's safe-int bound, then
    // max), which read as the same line repeated (newuser8 L4).
    const seen = new Set<string>();
    const reasons: string[] = [];
    for (const issue of issues) {
      const name = issue.path.map(String).join(".");
      if (seen.has(name)) continue;
      seen.add(name);
      reasons.push(`${name}: ${issueMessage(issue, env)}`);
    }
    super(`Invalid configuration: ${reasons.join("; ")}`);
    this.name = "ConfigError";
  }
}

/**
 * An issue's message; zod's "expected int, received number" (a fractional value) said as what the
 * variable must be: a whole number, of ms for the `_MS` durations. A value that is no number at all
 * ("expected number, received NaN") is said the same way, quoting the value given.
 */
function issueMessage(
  issue: { path: readonly PropertyKey[]; message: string; expected?: unknown },
  env: Readonly<Record<string, unknown>> | undefined,
): string {
  if (issue.expected !== "int" && issue.expected !== "number") return issue.message;
  const must = String(issue.path.at(-1)).endsWith("_MS")
    ? "must be a whole number of ms"
    : "must be a whole number";
  if (issue.expected === "int") return must;
  const given = issue.path.length === 1 ? env?.[String(issue.path[0])] : undefined;
  return given === undefined ? issue.message : `${must} (got ${JSON.stringify(given)})`;
}

/** Parses the environment once at start; a bad value stops the process with every problem listed. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (!result.success) throw new ConfigError(result.error.issues, env);
  return result.data;
}
