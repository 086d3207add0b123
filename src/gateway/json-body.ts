/**
 * JSON bodies parsed once with Fastify's own parser (prototype-poisoning checks included) while the
 * original text is kept, so a validated body is forwarded byte for byte instead of re-serialised.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { installStrictJsonParser } from "../lib/http/server.js";

const rawBodies = new WeakMap<FastifyRequest, string>();

/** Replaces the JSON parser of `app`; an empty body parses as "no body" rather than an error. */
export function installJsonBodyParser(app: FastifyInstance): void {
  installStrictJsonParser(app, {
    emptyIsNoBody: true,
    onText: (request, text) => rawBodies.set(request, text),
  });
}

/** The JSON text the client sent, when it sent one. */
export function rawBodyOf(request: FastifyRequest): string | undefined {
  return rawBodies.get(request);
}
