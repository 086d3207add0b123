/**
 * JSON bodies parsed once with Fastify's own parser (prototype-poisoning checks included) while the
 * original text is kept, so a validated body is forwarded byte for byte instead of re-serialised.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { decodeJsonBody } from "../lib/http/body-text.js";
import { explainJsonError } from "../lib/http/server.js";

const rawBodies = new WeakMap<FastifyRequest, string>();

/** Replaces the JSON parser of `app`; an empty body parses as "no body" rather than an error. */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  // As bytes, decoded strictly: invalid UTF-8, another charset or a Content-Encoding is refused,
  // never forwarded altered (break13 F3, F4).
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    let text: string;
    try {
      text = decodeJsonBody(request.headers, body);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
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
