/** How a route describes itself: the same description registers it and documents it (OpenAPI). */
import type { z } from "zod";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteDoc {
  method: HttpMethod;
  /** Fastify path (`/orders/:id`). */
  url: string;
  tag: string;
  summary: string;
  /** Request body schema, checked at the edge. */
  body?: z.ZodType;
  /** Query parameters (an object schema), for documentation and, where used, validation. */
  query?: z.ZodObject;
  /** Status → description of the answers this route gives. */
  responses: Record<number, string>;
  /** Longer explanation (semantics, guarantees): the operation's OpenAPI `description`. */
  description?: string;
  /** Schema of the success answer's body (OpenAPI: the 2xx response's schema). */
  answer?: z.ZodType;
  /** Example bodies: the request's, and per status the answer's (errors in the error shape). */
  examples?: { request?: unknown; responses?: Record<number, unknown> };
  /** False for routes open without an API key (only /health). */
  authenticated?: boolean;
  /**
   * True for an operator's route that only an admin key may call, where no path-prefix rule of
   * `isAdminRoute` (auth.ts) already says so: `isAdminRoute` reads this flag.
   */
  admin?: boolean;
}

/** A route answered by a service instance: the gateway validates, then forwards the same path. */
export interface ProxyRoute extends RouteDoc {
  service: string;
  /**
   * The service applies a request carrying an `Idempotency-Key` header at most once, so the gateway
   * may resend such a POST to another instance after a failure.
   */
  idempotencyKey?: boolean;
}
