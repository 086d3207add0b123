/** HTTP routes of the user service: CRUD on /users, bodies checked with the contracts' schemas. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { IdSchema } from "../../contracts/common.js";
import { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import { notFound } from "../../lib/http/errors.js";
import { deadlinePassed, gatewayDeadlineOf } from "../../lib/http/gateway-credential.js";
import { WriteDeadlineError } from "../../lib/redis/write-deadline.js";
import { idempotencyClientOf, markReplayed, parseKeyedInput } from "../../lib/http/idempotency-key.js";
import { parseInput } from "../../lib/http/server.js";
import { emailTaken, type UserCommands } from "./commands.js";

/** A user id as every other id: visible ASCII, 1-100 characters (break10: `%00` was looked up). */
const IdParams = z.object({ id: IdSchema });
const idOf = (params: unknown): string => parseInput(IdParams, params).id;

/**
 * Each write is given the gateway's deadline, checked in its atomic step (fixdl): an instance that
 * stalled after the check on arrival answers 503 GATEWAY_DEADLINE_PASSED, nothing applied, instead
 * of creating, updating (a late copy undid a later write) or deleting after the time the client was
 * told a check is conclusive.
 */
async function beforeDeadline<T>(request: object, write: (applyBy: number | undefined) => Promise<T>) {
  const applyBy = gatewayDeadlineOf(request);
  try {
    return await write(applyBy);
  } catch (error) {
    if (error instanceof WriteDeadlineError) throw deadlinePassed(applyBy);
    throw error;
  }
}

export function userRoutes(commands: UserCommands): (app: FastifyInstance) => void {
  return (app) => {
    // With an Idempotency-Key, created at most once per (client, key) within its TTL; a resend
    // answers the created user as it is now, marked as a replay (break35 F2), as POST /orders does.
    app.post("/users", async (request, reply) => {
      const { body, key } = parseKeyedInput(CreateUserBody, request);
      const client = idempotencyClientOf(request);
      const outcome = await beforeDeadline(request, (applyBy) =>
        commands.create(body, key === undefined ? undefined : { client, key }, applyBy),
      );
      if (outcome.kind === "created") return reply.status(201).send(outcome.user);
      markReplayed(reply);
      if (outcome.kind === "replayed_refusal") throw emailTaken();
      if (!outcome.user) throw notFound("User", outcome.userId);
      return reply.status(201).send(outcome.user);
    });
    app.get("/users/:id", async (request) => commands.get(idOf(request.params)));
    app.put("/users/:id", async (request) => {
      const id = idOf(request.params);
      const body = parseInput(UpdateUserBody, request.body);
      return beforeDeadline(request, (applyBy) => commands.update(id, body, applyBy));
    });
    app.delete("/users/:id", async (request, reply) => {
      const id = idOf(request.params);
      await beforeDeadline(request, (applyBy) => commands.remove(id, applyBy));
      return reply.status(204).send();
    });
  };
}
