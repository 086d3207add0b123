import { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import type { ProxyRoute } from "./types.js";

const tag = "Users";

export const userRoutes: ProxyRoute[] = [
  {
    method: "POST",
    url: "/users",
    service: "user",
    tag,
    summary: "Create a new user (send an Idempotency-Key header to make retries safe)",
    body: CreateUserBody,
    // break35 F2: a create whose answer was lost could not be found again; a keyed resend replays it.
    idempotencyKey: true,
    responses: {
      201: "The user (a replay with the same Idempotency-Key and body: the user as it is now, Idempotent-Replayed: true)",
      400: "Invalid body",
      409: "Email already registered",
      422: "Idempotency-Key reused with a different body",
    },
  },
  {
    method: "GET",
    url: "/users/:id",
    service: "user",
    tag,
    summary: "Get user by ID",
    responses: { 200: "The user", 404: "No such user" },
  },
  {
    method: "PUT",
    url: "/users/:id",
    service: "user",
    tag,
    summary: "Update user",
    body: UpdateUserBody,
    responses: { 200: "The updated user", 400: "Invalid body", 404: "No such user", 409: "Email taken" },
  },
  {
    method: "DELETE",
    url: "/users/:id",
    service: "user",
    tag,
    summary: "Delete user",
    responses: { 204: "Deleted", 404: "No such user" },
  },
];
