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

/** `apiKey`: sent as `x-api-key` on every call, for a gateway with GATEWAY_API_KEYS set. */
export function createApiClient(baseUrl: string, options: { apiKey?: string | undefined } = {}): ApiClient {
  const auth: Record<string, string> = options.apiKey ? { "x-api-key": options.apiKey } : {};
  const call = async <T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
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
