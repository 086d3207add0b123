/** HTTP routes of the user service: CRUD on /users, bodies checked with the contracts' schemas. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { IdSchema } from "../../contracts/common.js";
import { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import { parseInput } from "../../lib/http/server.js";
import type { UserCommands } from "./commands.js";

/** A user id as every other id: visible ASCII, 1-100 characters (break10: `%00` was looked up). */
const IdParams = z.object({ id: IdSchema });
const idOf = (params: unknown): string => parseInput(IdParams, params).id;

export function userRoutes(commands: UserCommands): (app: FastifyInstance) => void {
  return (app) => {
    app.post("/users", async (request, reply) => {
      const user = await commands.create(parseInput(CreateUserBody, request.body));
      return reply.status(201).send(user);
    });
    app.get("/users/:id", async (request) => commands.get(idOf(request.params)));
    app.put("/users/:id", async (request) =>
      commands.update(idOf(request.params), parseInput(UpdateUserBody, request.body)),
    );
    app.delete("/users/:id", async (request, reply) => {
      await commands.remove(idOf(request.params));
      return reply.status(204).send();
    });
  };
}
