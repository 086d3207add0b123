/**
 * newuser13 F4: `start:services --redis-acl` could only create its users with `ACL SETUSER`, which
 * needs `default` (or another user with ACL rights) on the Redis: over a production Redis that loaded
 * the ACL file (`default` off) it could not run, so the no-Docker recipe left `default` open. With
 * REDIS_PASSWORD_<USER> set it now hands each process the file's user and its password instead.
 */
import { describe, expect, it } from "vitest";
import { AclPasswordsIncompleteError, fileUserCredentials, passwordVariable } from "./redis-acl.js";

const users = ["order", "inventory", "gateway"];

describe("the launch's credentials from the ACL file's passwords (REDIS_PASSWORD_<USER>)", () => {
  it("none set: undefined (the launcher creates its own users)", () => {
    expect(fileUserCredentials(users, { REDIS_PASSWORD_OPS: "x" })).toBeUndefined();
  });

  it("all set: each user logs in under its own name with its own password", () => {
    const env = Object.fromEntries(users.map((u) => [passwordVariable(u), `pw-${u}`]));
    expect(fileUserCredentials(users, env)).toEqual(
      new Map(users.map((u) => [u, { username: u, password: `pw-${u}` }])),
    );
  });

  it("some set: refused, naming the variables missing", () => {
    const env = { REDIS_PASSWORD_ORDER: "a" };
    expect(() => fileUserCredentials(users, env)).toThrow(AclPasswordsIncompleteError);
    expect(() => fileUserCredentials(users, env)).toThrow(
      /^REDIS_PASSWORD_INVENTORY, REDIS_PASSWORD_GATEWAY not set/,
    );
  });
});
