import { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import type { ProxyRoute } from "./types.js";

const tag = "Users";

export const userRoutes: ProxyRoute[] = [
  {
    method: "POST",
    url: "/users",
    service: "user",
    tag,
    summary: "Create a new user",
    body: CreateUserBody,
    responses: { 201: "The user", 400: "Invalid body", 409: "Email already registered" },
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
