/**
 * A graceful stop of an HTTP server under keep-alive load (break17 F4). Fastify's `close()` closes
 * idle kept-alive sockets at once: a caller (the gateway's pool) that had just written a request on
 * one got a connection reset, an outcome it cannot know for a POST. And a request that never ends
 * held `close()` (and the process's stop) past its force-exit. Here a stop first refuses new
 * requests (Fastify's drain 503 with `Connection: close`, which the gateway resends elsewhere)
 * while callers' caches drop the deregistered instance, closes the idle sockets only once no request
 * has come for a quiet period, waits for requests in flight, and cuts what is left at its budget.
 */
import type { FastifyInstance } from "fastify";

/**
 * Fastify's own drain answer (`return503OnClosing`), byte for byte: the gateway recognises it
 * (upstream-errors.ts isDrainingResponse) as "refused before any handler ran" and resends it.
 */
export const DRAIN_BODY = '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}';

/** What a draining server answers instead of Fastify's drain body (the gateway's clients: the error shape). */
export interface DrainAnswer {
  /** The JSON body. */
  body: string;
  /** `Retry-After` in seconds, if any. */
  retryAfterSeconds?: number;
}

export interface DrainOptions {
  /** The 503's body and Retry-After (default: Fastify's drain body, which the gateway recognises). */
  answer?: DrainAnswer;
  /** Milliseconds without a new request after which idle sockets are closed (default 250). */
  quietMs?: number;
  /** Longest wait (ms) for that quiet period; then idle sockets are closed anyway (default 2 000). */
  lingerMs?: number;
  /**
   * Longest wait (ms) for requests in flight once the server is closed (default 5 000); then every
   * connection left is destroyed (their callers see a reset) so the stop ends within its budget.
   */
  inFlightMs?: number;
}

/** The default of DrainOptions.inFlightMs. */
export const DEFAULT_DRAIN_IN_FLIGHT_MS = 5_000;

interface DrainState {
  draining: boolean;
  answer: DrainAnswer;
  lastRequestAt: number;
}

const states = new WeakMap<FastifyInstance, DrainState>();

/**
 * Installs the drain answer on `app` (before it is ready: hooks cannot be added later). Until
 * {@link drainAndClose} it costs one boolean check per request.
 */
export function installDrain(app: FastifyInstance): void {
  const state: DrainState = { draining: false, answer: { body: DRAIN_BODY }, lastRequestAt: 0 };
  states.set(app, state);
  app.addHook("onRequest", async (_request, reply) => {
    if (!state.draining) return;
    state.lastRequestAt = performance.now();
    // Before the body is read and before any handler: never applied, safe to resend elsewhere.
    const { body, retryAfterSeconds } = state.answer;
    if (retryAfterSeconds !== undefined) reply.header("retry-after", String(retryAfterSeconds));
    await reply.code(503).header("connection", "close").header("content-type", "application/json").send(body);
    return reply;
  });
}

const openConnections = (app: FastifyInstance): Promise<number> =>
  new Promise((resolve) => app.server.getConnections((error, count) => resolve(error ? 0 : count)));

/**
 * Stops `app` gracefully within `lingerMs + inFlightMs` (plus a close's own few ms): refuses new
 * requests with the drain 503, waits for a quiet period (none when no connection is open), then
 * closes (idle sockets closed, requests in flight awaited) and destroys what is still open at the
 * budget. Resolves once the server is closed; never rejects for a connection it had to cut.
 */
export async function drainAndClose(app: FastifyInstance, options: DrainOptions = {}): Promise<void> {
  const quietMs = options.quietMs ?? 250;
  const lingerMs = options.lingerMs ?? 2_000;
  const inFlightMs = options.inFlightMs ?? DEFAULT_DRAIN_IN_FLIGHT_MS;
  const state = states.get(app);
  if (state && app.server.listening) {
    if (options.answer) state.answer = options.answer;
    state.draining = true;
    const start = performance.now();
    state.lastRequestAt = start;
    while ((await openConnections(app)) > 0) {
      const now = performance.now();
      const quietAt = state.lastRequestAt + quietMs;
      const lingerEnd = start + lingerMs;
      if (now >= quietAt || now >= lingerEnd) break;
      await sleep(Math.min(quietAt, lingerEnd) - now);
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const closed = app.close();
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      app.server.closeAllConnections();
      resolve();
    }, inFlightMs);
  });
  await Promise.race([closed, cut]);
  clearTimeout(timer);
  await closed;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(1, ms)));
