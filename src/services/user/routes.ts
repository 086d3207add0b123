/** HTTP routes of the user service: CRUD on /users, bodies checked with the contracts' schemas. */
import type { FastifyInstance } from "fastify";
import { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import { parseInput } from "../../lib/http/server.js";
import type { UserCommands } from "./commands.js";

interface IdParams {
  id: string;
}

export function userRoutes(commands: UserCommands): (app: FastifyInstance) => void {
  return (app) => {
    app.post("/users", async (request, reply) => {
      const user = await commands.create(parseInput(CreateUserBody, request.body));
      return reply.status(201).send(user);
    });
    app.get<{ Params: IdParams }>("/users/:id", async (request) => commands.get(request.params.id));
    app.put<{ Params: IdParams }>("/users/:id", async (request) =>
      commands.update(request.params.id, parseInput(UpdateUserBody, request.body)),
    );
    app.delete<{ Params: IdParams }>("/users/:id", async (request, reply) => {
      await commands.remove(request.params.id);
      return reply.status(204).send();
    });
  };
}
