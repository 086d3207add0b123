import { errorWithCauses } from "../lib/runtime/launch-signal.js";

/** A tiny JSON-over-HTTP client for the demo and the end-to-end tests: the gateway is all they see. */
export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiClient {
  readonly baseUrl: string;
  get<T = unknown>(path: string): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  put<T = unknown>(path: string, body: unknown): Promise<ApiResponse<T>>;
}

/** How many times a call answered 429 is sent again after its Retry-After (new-user finding F7). */
const MAX_RATE_LIMITED_RETRIES = 5;
/** The longest Retry-After the client waits out (s); a longer one is returned as the 429 it is. */
const MAX_RETRY_AFTER_S = 30;

/** The seconds a 429's Retry-After asks for (RFC 9110 §10.2.3: delay-seconds), or undefined. */
function retryAfterSeconds(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const seconds = Number(value);
  return seconds <= MAX_RETRY_AFTER_S ? seconds : undefined;
}

/**
 * `apiKey`: sent as `x-api-key` on every call, for a gateway with GATEWAY_API_KEYS set. A call
 * answered 429 with a Retry-After of at most 30 s is sent again after it, up to 5 times: the gateway's
 * rate limiter answers before the request reaches a service, so sending it again is safe.
 */
export function createApiClient(baseUrl: string, options: { apiKey?: string | undefined } = {}): ApiClient {
  const auth: Record<string, string> = options.apiKey ? { "x-api-key": options.apiKey } : {};
  const call = async <T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> => {
    for (let retries = 0; ; retries++) {
      const answer = await send<T>(method, path, body, headers);
      const wait = answer.status === 429 ? retryAfterSeconds(answer.headers) : undefined;
      if (wait === undefined || retries >= MAX_RATE_LIMITED_RETRIES) return answer;
      await new Promise((resolve) => setTimeout(resolve, wait * 1_000));
    }
  };
  const send = async <T>(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<ApiResponse<T>> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...auth,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as T) : (undefined as T);
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    baseUrl,
    get: (path) => call("GET", path),
    post: (path, body, headers) => call("POST", path, body, headers),
    put: (path, body) => call("PUT", path, body),
  };
}

/**
 * Why the demo cannot run against this gateway, or undefined: asked once before the scenarios, so a
 * gateway with API keys and no key given (or a client key) is one line saying what to pass, not
 * five scenarios of 401s. `GET /services` needs an admin key when keys are configured, as the
 * demo's restock (scenario 4) does. A gateway that cannot be reached (or answers something other
 * than JSON) is one line too, naming the URL and the cause; this never throws.
 */
export async function gatewayAccessProblem(api: ApiClient, keyGiven: boolean): Promise<string | undefined> {
  let res: ApiResponse<{ error?: { code?: string } } | undefined>;
  try {
    res = await api.get<{ error?: { code?: string } }>("/services");
  } catch (error) {
    // break13 F5: an unreachable gateway ran all five scenarios, each failing "fetch failed".
    const why = errorWithCauses(error);
    return error instanceof SyntaxError
      ? `the server at ${api.baseUrl} did not answer GET /services with JSON (${why}): is it an Ordersaga gateway? Check --gateway`
      : `cannot reach the gateway at ${api.baseUrl} (${why}): start it, or pass its URL with --gateway`;
  }
  const code = res.body?.error?.code ?? "";
  const admin = "an admin key, one of the gateway's GATEWAY_ADMIN_API_KEYS (scenario 4 restocks a product)";
  if (res.status === 401 && !keyGiven)
    return `this gateway needs an API key: pass --api-key KEY (npm run demo -- --api-key KEY) or set GATEWAY_API_KEY, ${admin}`;
  if (res.status === 401)
    return `the gateway refused the API key (401 ${code}): pass ${admin}, with --api-key or GATEWAY_API_KEY`;
  if (res.status === 403)
    return `the API key is a client key (403 ${code}): the demo needs ${admin}, with --api-key or GATEWAY_API_KEY`;
  return undefined;
}
