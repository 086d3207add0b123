import { writeSync } from "node:fs";
import { type DestinationStream, type Logger, levels, pino } from "pino";
import { activeTraceFields } from "./spans.js";
import { monotonicNow } from "../resilience/monotonic.js";

export type { Logger } from "pino";

/** Field names whose values never reach a log line, at the top level or nested up to three levels. */
export const SECRET_FIELDS = [
  "paymentToken",
  "token",
  "accessToken",
  "refreshToken",
  "card",
  "cardNumber",
  "cvv",
  "cvc",
  "authorization",
  "cookie",
  "password",
  "secret",
  "apiKey",
] as const;

const MAX_DEPTH = 3;

/** `token`, `*.token`, `*.*.token`, `*.*.*.token` for every secret field. */
export function redactPaths(fields: readonly string[] = SECRET_FIELDS): string[] {
  const paths: string[] = [];
  for (const field of fields) {
    for (let depth = 0; depth <= MAX_DEPTH; depth++) paths.push(`${"*.".repeat(depth)}${field}`);
  }
  return paths;
}

export const REDACTED = "[REDACTED]";

export interface LoggerOptions {
  service: string;
  instance?: string;
  /** pino level name; defaults to LOG_LEVEL, then "info". */
  level?: string;
  /** Human-readable single lines instead of JSON (for a terminal; JSON stays the default). */
  pretty?: boolean;
  /** Where lines go; stdout by default. Tests pass a capturing stream. */
  destination?: DestinationStream;
  /** Extra redact paths in pino syntax (e.g. `req.headers["x-api-key"]`). */
  redact?: readonly string[];
}

/** A configuration mistake (such as a misspelt LOG_LEVEL) fails fast at start-up. */
export class LoggerConfigError extends Error {
  readonly code = "INVALID_LOG_LEVEL";
  readonly retryable = false;

  constructor(level: string) {
    super(`Unknown log level "${level}" (expected one of ${Object.keys(levels.values).join(", ")}, silent)`);
    this.name = "LoggerConfigError";
  }
}

/**
 * A JSON-lines pino logger with `service` (and `instance`) on every line, ISO time and secrets
 * redacted; `trace_id` and `span_id` on every line written while a span is active.
 */
export function createLogger(options: LoggerOptions): Logger {
  const level = (options.level ?? process.env.LOG_LEVEL ?? "info").toLowerCase();
  if (level !== "silent" && !(level in levels.values)) throw new LoggerConfigError(level);
  const own: Record<string, string> = { service: options.service };
  if (options.instance !== undefined) own.instance = options.instance;
  const out = options.destination ?? stdoutDestination();
  return pino(
    {
      level,
      base: {},
      // `service` and `instance` come from a mixin, not `base`: pino writes bindings and a line's
      // own fields side by side, so `log({ service })` would print the key twice. A line written
      // inside a span (an HTTP request, a handled message) carries its `trace_id` and `span_id`.
      mixin: () => {
        const ids = activeTraceFields();
        return ids ? { ...own, ...ids } : own;
      },
      mixinMergeStrategy: mergeService,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names ("warn") instead of numbers make lines readable and greppable.
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...redactPaths(), ...(options.redact ?? [])], censor: REDACTED },
    },
    options.pretty ? prettyStream(out) : out,
  );
}

/**
 * How long (ms) the exit-time flush of stdout may wait for a full pipe to take the pending lines;
 * past it they are dropped and the process exits.
 */
export const EXIT_FLUSH_BUDGET_MS = 1_000;

/**
 * The most bytes of log lines the stdout stream holds in memory while stdout does not take them
 * (a paused terminal, a reader that stopped reading); lines past it are dropped, not queued.
 */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/** sonic-boom 4's fields the bounded exit flush uses (not public: checked before use). */
interface SonicBoomState {
  fd: number;
  _bufs: unknown[];
  _writingBuf: unknown;
  _writing: unknown;
  _len: number;
  flushSync: () => void;
}

/**
 * pino's stdout stream (sonic-boom, writing in the background), whose exit-time flush is bounded.
 * pino flushes it synchronously on 'exit'; sonic-boom's `flushSync` retries a failed write every
 * 100 ms for ever, whatever the error: with lines pending and a stdout nobody reads any more
 * (EPIPE: the launcher was killed), the process never exited (break11 F2). Here a broken pipe
 * drops the pending lines at once, a full one (EAGAIN) gets `EXIT_FLUSH_BUDGET_MS`. It holds at most
 * `LOG_BUFFER_MAX_BYTES` of lines not yet written.
 */
export function stdoutDestination(): DestinationStream {
  const stream = pino.destination({ dest: 1, maxLength: LOG_BUFFER_MAX_BYTES });
  const state = stream as unknown as Partial<SonicBoomState>;
  // Another sonic-boom shape (an upgrade) keeps its own flush: the launcher's children still have
  // their watchdog (watchParent), and the orphan test says so.
  if (typeof state.fd !== "number" || !Array.isArray(state._bufs) || typeof state.flushSync !== "function")
    return stream;
  const boom = state as SonicBoomState;
  boom.flushSync = () => {
    const pending: unknown[] = [];
    // A write in flight (`_writing`) is the thread pool's; the lines not yet handed over are ours.
    if (boom._writing !== true) {
      pending.push(boom._writingBuf);
      boom._writingBuf = "";
    }
    pending.push(...boom._bufs);
    boom._bufs = [];
    boom._len = boom._writing === true && typeof boom._writingBuf === "string" ? boom._writingBuf.length : 0;
    writeWithin(
      boom.fd,
      pending.filter(
        (chunk): chunk is string | Buffer => typeof chunk === "string" || Buffer.isBuffer(chunk),
      ),
      EXIT_FLUSH_BUDGET_MS,
    );
  };
  return stream;
}

/**
 * Writes `chunks` to `fd` synchronously, giving up on the first error that is not a full pipe
 * (EPIPE, EBADF: nothing more can be delivered) and on a full pipe (EAGAIN, EBUSY) after
 * `budgetMs`. A blocking fd that nobody drains blocks in the kernel: only a watchdog outside the
 * event loop ends that (watchParent).
 */
function writeWithin(fd: number, chunks: readonly (string | Buffer)[], budgetMs: number): void {
  // Monotonic: a wall-clock step back would stretch the budget (the event loop blocked) by the step.
  const deadline = monotonicNow() + budgetMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const chunk of chunks) {
    let rest = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    while (rest.length > 0) {
      try {
        rest = rest.subarray(writeSync(fd, rest));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code !== "EAGAIN" && code !== "EBUSY") || monotonicNow() >= deadline) return;
        Atomics.wait(pause, 0, 0, 10); // the reader's turn: 10 ms, then try again
      }
    }
  }
}

/**
 * One `service` (and `instance`) per line, always the logger's own. A line about another service (the gateway
 * logging an upstream failure) keeps that name as `peerService`.
 */
function mergeService(line: object, own: object): object {
  const { service, ...rest } = line as { service?: unknown; instanceId?: unknown };
  const { service: ownService, instance: ownInstance } = own as { service: string; instance?: string };
  // The logger's own instance under another name (the registry agent's `instanceId`): once is enough.
  if (ownInstance !== undefined && rest.instanceId === ownInstance) delete rest.instanceId;
  return service === undefined || service === ownService
    ? Object.assign(rest, own)
    : Object.assign(rest, own, { peerService: service });
}

/**
 * Resolves once the lines this logger wrote so far have left the process (at most `timeoutMs`).
 * pino's stdout stream (sonic-boom) writes in the background; a process that tells its launcher it
 * is up right after logging "started" had the launcher print its banner before those lines. Streams
 * that write at once (a test's capture, a pretty wrapper) resolve immediately.
 */
export function logsWritten(logger: Logger, timeoutMs = 1_000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    { _writing?: unknown; once?: (event: "drain", listener: () => void) => unknown } | undefined;
  // sonic-boom's in-flight flag: not public, so anything else (or a renamed field) does not wait.
  if (stream?._writing !== true || typeof stream.once !== "function") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    stream.once?.("drain", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A child logger that stamps `correlationId` (and any extra bindings) on every line. */
export function withCorrelation(
  logger: Logger,
  correlationId: string,
  extra: Record<string, unknown> = {},
): Logger {
  return logger.child({ ...extra, correlationId });
}

/** Wraps a destination so each JSON line is rewritten by `formatPretty` before it is written. */
export function prettyStream(out: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      out.write(`${formatPretty(line)}\n`);
    },
  };
}

const SHOWN_FIRST = new Set(["time", "level", "service", "instance", "msg", "correlationId"]);

/**
 * `12:00:00.000 INFO  order[a1] (corr-1) message key=value ...`. Deliberately tiny: pino-pretty is
 * not a dependency, and machines read the JSON form anyway.
 */
export function formatPretty(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.trimEnd();
  }
  const time = typeof record.time === "string" ? record.time.slice(11, 23) : "";
  const level = String(record.level ?? "")
    .toUpperCase()
    .padEnd(5);
  const who = `${String(record.service ?? "")}${record.instance ? `[${String(record.instance)}]` : ""}`;
  const corr = record.correlationId ? ` (${String(record.correlationId)})` : "";
  const rest = Object.entries(record)
    .filter(([key]) => !SHOWN_FIRST.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return [`${time} ${level} ${who}${corr}`, record.msg ?? "", ...rest]
    .filter((part) => part !== "")
    .join(" ");
}
