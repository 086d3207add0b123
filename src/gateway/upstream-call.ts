/**
 * One HTTP exchange with an instance through undici's `dispatch`, with a time budget: the answer's
 * status, the named response headers and the whole body, or a `TimeoutError` once the budget ran
 * out (the request is then aborted, or never sent if it still waits for a connection).
 *
 * Why not `agent.request()` with an `AbortSignal`: per call that builds an AbortController and its
 * signal, an abort listener, a Readable for the body and the promise plumbing of `arrayBuffer()`,
 * about a tenth of the gateway's CPU per proxied `POST /orders` (issue 14, accept path). The
 * bodies proxied here are small JSON answers, read whole anyway.
 */
import type { Dispatcher } from "undici";
import { TimeoutError } from "../lib/resilience/errors.js";

/**
 * 10 MiB: far above what a service legitimately answers (the largest, a 500-order page of
 * `GET /orders`, is a few MiB at most), yet a bound on the memory one proxied call can take.
 */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface UpstreamAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The answer's body grew past the call's `maxBodyBytes`: the call was aborted there, so a huge or
 * endless body costs at most that much memory (break-gw F4), not bandwidth × time budget.
 */
export class UpstreamBodyTooLargeError extends Error {
  readonly code = "UPSTREAM_BODY_TOO_LARGE";

  constructor(readonly maxBodyBytes: number) {
    super(`upstream answer body over ${maxBodyBytes} bytes`);
    this.name = "UpstreamBodyTooLargeError";
  }
}

export interface UpstreamCall {
  origin: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * Sends `call` through `dispatcher` and resolves with the answer; rejects with the transport's error
 * (its `code`, e.g. ECONNREFUSED, as `agent.request` gives it), with `TimeoutError` after
 * `budgetMs`, or with `UpstreamBodyTooLargeError` once the body passes `maxBodyBytes` (the request is
 * aborted then). Only the headers in `keep` (lower case) are returned, each when it came once.
 * `onDone` runs once, when undici is done with the request (answered, failed, or aborted: for a
 * call that timed out before it had a connection, only once undici dropped it).
 */
export function callUpstream(
  dispatcher: Dispatcher,
  call: UpstreamCall,
  budgetMs: number,
  keep: ReadonlySet<string>,
  maxBodyBytes = Number.POSITIVE_INFINITY,
  onDone?: () => void,
): Promise<UpstreamAnswer> {
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    let abort: ((error?: Error) => void) | undefined;
    let timedOut: TimeoutError | undefined;
    let settled = false;
    let status = 0;
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let bodyBytes = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      onDone?.();
    };
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      timedOut = new TimeoutError(budgetMs);
      fail(timedOut);
      // Before onConnect there is nothing to abort yet: onConnect aborts it (never sent late).
      abort?.(timedOut);
    }, budgetMs);
    const handler: Dispatcher.DispatchHandlers = {
      onConnect(abortRequest) {
        abort = abortRequest;
        if (timedOut) abortRequest(timedOut);
      },
      onHeaders(statusCode, raw) {
        // 1xx informational answers come before the real one.
        if (statusCode < 200) return true;
        status = statusCode;
        headers = pickHeaders(raw, keep);
        return true;
      },
      onData(chunk) {
        bodyBytes += chunk.length;
        if (bodyBytes > maxBodyBytes) {
          const tooLarge = new UpstreamBodyTooLargeError(maxBodyBytes);
          chunks.length = 0;
          fail(tooLarge);
          abort?.(tooLarge);
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        finish();
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, headers, body: Buffer.concat(chunks) });
      },
      onError(error) {
        finish();
        fail(error);
      },
    };
    try {
      dispatcher.dispatch(
        {
          origin: call.origin,
          path: call.path,
          method: call.method as Dispatcher.HttpMethod,
          headers: call.headers,
          body: call.body ?? null,
        },
        handler,
      );
    } catch (error) {
      finish();
      fail(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

/**
 * The headers named in `keep`, each only when it came once (as `agent.request` left them). Values
 * are decoded as latin1, as Node's own HTTP parser does: one character per byte, which Node writes
 * back as the same byte, so a value relays byte for byte (UTF-8 would turn "€" into a character
 * Node refuses to write, and "é" into a different byte: break-gw F1).
 */
function pickHeaders(raw: readonly (Buffer | string)[], keep: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  const repeated = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString("latin1").toLowerCase();
    if (!keep.has(name)) continue;
    if (name in out) repeated.add(name);
    else out[name] = raw[i + 1]!.toString("latin1");
  }
  for (const name of repeated) delete out[name];
  return out;
}
