/**
 * JSON bodies parsed once with Fastify's own parser (prototype-poisoning checks included) while the
 * original text is kept, so a validated body is forwarded byte for byte instead of re-serialised.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { explainJsonError } from "../lib/http/server.js";

const rawBodies = new WeakMap<FastifyRequest, string>();

/** Replaces the JSON parser of `app`; an empty body parses as "no body" rather than an error. */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") {
      done(null, undefined);
      return;
    }
    rawBodies.set(request, text);
    parseJson(request, text, (error, value) => done(error ? explainJsonError(text, error) : null, value));
  });
}

/** The JSON text the client sent, when it sent one. */
export function rawBodyOf(request: FastifyRequest): string | undefined {
  return rawBodies.get(request);
}
