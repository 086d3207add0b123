/**
 * API-key authentication, off unless keys are configured. Keys are compared by their SHA-256
 * digest, so the check takes the same time whatever prefix of a key a caller guesses.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { errorBody } from "../lib/http/errors.js";

/** Routes open without a key: load balancers and orchestrators probe them. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(["/health"]);

const digest = (key: string) => createHash("sha256").update(key).digest("hex");

const callers = new WeakMap<FastifyRequest, string>();

/** The key a request presents: `Authorization: Bearer <key>` or `x-api-key: <key>`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === "string" && header.toLowerCase().startsWith("bearer ")) {
    const key = header.slice(7).trim();
    if (key !== "") return key;
  }
  const apiKey = request.headers["x-api-key"];
  return typeof apiKey === "string" && apiKey !== "" ? apiKey : undefined;
}

/** Adds the check to every route but PUBLIC_ROUTES when `keys` is non-empty; 401 UNAUTHORIZED otherwise. */
export function installApiKeyAuth(app: FastifyInstance, keys: readonly string[]): void {
  const accepted = new Set(keys.filter((k) => k !== "").map(digest));
  if (accepted.size === 0) return;
  app.addHook("onRequest", async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? "")) return;
    const key = presentedKey(request);
    const hash = key === undefined ? undefined : digest(key);
    if (hash !== undefined && accepted.has(hash)) {
      // Audit trails name the key by a digest prefix, never the key itself.
      callers.set(request, `api-key:${hash.slice(0, 8)}`);
      return;
    }
    return reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="ordersaga"')
      .send(
        errorBody("UNAUTHORIZED", "Missing or invalid API key (Authorization: Bearer <key> or x-api-key)"),
      );
  });
}

/** Who made the request, for audit entries: the key's digest prefix, else "anonymous". */
export function callerOf(request: FastifyRequest): string {
  return callers.get(request) ?? "anonymous";
}
