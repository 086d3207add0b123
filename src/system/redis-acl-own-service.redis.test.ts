/**
 * The ACL user of a service built outside this repository (newuser17 F3): `serviceAclUser` renders
 * it from its name, the events it consumes and the commands its own stores add, with the same rules
 * `aclUsers()` gives the built-in services; checked on a real Redis.
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { describeWithRedis } from "../test-support/redis.js";
import { SERVICES } from "./catalog.js";
import {
  aclFileLine,
  aclUsers,
  consumedTopics,
  gatewayAclUser,
  SERVICE_COMMANDS,
  serviceAclUser,
  setUserArgs,
} from "./redis-acl.js";

const clients: Redis[] = [];
const open = (url: string, options: { username?: string; password?: string } = {}) => {
  const client = new Redis(url, { ...options, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => {});
  clients.push(client);
  return client;
};
afterAll(() => {
  for (const client of clients) client.disconnect();
});

/** The command's answer, or Redis's refusal as text. */
const attempt = async (client: Redis, command: string, ...args: string[]): Promise<string> => {
  try {
    return String(await client.call(command, ...args));
  } catch (error) {
    return (error as Error).message;
  }
};

const rewards = () =>
  serviceAclUser({
    name: "rewards",
    consumes: [{ owner: "order", topic: "order.completed" }],
    commands: ["incrby"],
  });

it("a built-in service's user from serviceAclUser is the one aclUsers() renders", async () => {
  const users = await aclUsers();
  const consumed = await consumedTopics();
  for (const [name, commands] of Object.entries(SERVICE_COMMANDS)) {
    const expected = users.find((user) => user.name === name);
    const built = serviceAclUser({
      name,
      consumes: consumed.get(name) ?? [],
      commands,
      keys: name === "order" ? ["{payment}:tokenkey:*"] : [],
    });
    expect(built, name).toEqual(expected);
  }
});

it("an own service's ACL file line is its rules, on with its password's SHA-256", () => {
  const sha = createHash("sha256").update("secret").digest("hex");
  const line = aclFileLine(rewards(), sha);
  expect(line.startsWith(`user rewards on #${sha} resetchannels &ps:* -@all `)).toBe(true);
  expect(line).toContain(" +incrby ");
  expect(line).toContain(" ~{rewards}:* ");
  expect(line).toContain("(~{order}:ev:order.completed ~{rewards}:redeliver ");
});

it("refuses a name or command that would widen the user's keys or rights", () => {
  expect(() => serviceAclUser({ name: "re*", consumes: [] })).toThrow(/service name/);
  expect(() => serviceAclUser({ name: "rewards", consumes: [], commands: ["+@all"] })).toThrow(/command/);
  expect(() => serviceAclUser({ name: "rewards", consumes: [{ owner: "order", topic: "order.*" }] })).toThrow(
    /event/,
  );
});

it("the gateway's user names each group's redeliver keys exactly; an own service's group is added by name", async () => {
  const gateway = (await aclUsers()).find((user) => user.name === "gateway")!;
  expect(gateway).toEqual(gatewayAclUser(SERVICES.map((s) => s.name)));
  expect(
    gateway.rules.filter((rule) => rule.includes("*") && rule.startsWith("~{") && !rule.startsWith("~{d")),
  ).toEqual([]);
  expect(gatewayAclUser(["order", "rewards"]).rules).toEqual(
    expect.arrayContaining(["~{rewards}:redeliver", "~{rewards}:replays"]),
  );
  expect(() => gatewayAclUser(["re*"])).toThrow(/group name/);
  expect(() => gatewayAclUser(["a}b"])).toThrow(/group name/);
});

describeWithRedis("an own service's ACL user on a real Redis", (getRedis) => {
  it("the gateway redelivers to an own service's group only once its group is added (gatewayAclUser)", async () => {
    const admin = open(getRedis().url);
    const names = SERVICES.map((s) => s.name);
    await admin.call("ACL", "SETUSER", ...setUserArgs({ ...gatewayAclUser(names), name: "gw-own" }, "pw-gw"));
    const before = open(getRedis().url, { username: "gw-own", password: "pw-gw" });
    expect(await attempt(before, "XADD", "{rewards}:redeliver", "*", "b", "x")).toMatch(/NOPERM/);
    await admin.call(
      "ACL",
      "SETUSER",
      ...setUserArgs({ ...gatewayAclUser([...names, "rewards"]), name: "gw-own" }, "pw-gw"),
    );
    const after = open(getRedis().url, { username: "gw-own", password: "pw-gw" });
    expect(await attempt(after, "XADD", "{rewards}:redeliver", "*", "b", "x")).not.toMatch(/NOPERM/);
    expect(await attempt(after, "ZADD", "{rewards}:replays", "1", "r1")).toBe("1");
    expect(await attempt(after, "HSET", "{rewards}:points:u1}:redeliver", "p", "1")).toMatch(/NOPERM/);
  });

  it("consumes its events, writes its own keys and registers, and nothing else", async () => {
    const admin = open(getRedis().url);
    await admin.call("ACL", "SETUSER", ...setUserArgs(rewards(), "pw-rewards"));
    const stream = "{order}:ev:order.completed";
    await admin.xgroup("CREATE", stream, "rewards", "0", "MKSTREAM");
    await admin.xadd(stream, "*", "b", "x");
    const user = open(getRedis().url, { username: "rewards", password: "pw-rewards" });

    // Its consumer group on the stream it consumes, its own keys with its extra command, its registration.
    const read = await attempt(
      user,
      "XREADGROUP",
      "GROUP",
      "rewards",
      "c1",
      "COUNT",
      "1",
      "STREAMS",
      stream,
      ">",
    );
    expect(read).not.toMatch(/NOPERM/);
    expect(await attempt(user, "INCRBY", "{rewards}:points:u1", "5")).toBe("5");
    expect(await attempt(user, "SADD", "{discovery}:svc:rewards", "rewards-1")).toBe("1");
    expect(await attempt(user, "XADD", "{rewards}:ev:rewards.points.awarded", "*", "b", "y")).not.toMatch(
      /NOPERM/,
    );

    // Not another's stream, keys or discovery entries; no command it was not given.
    expect(await attempt(user, "XADD", stream, "*", "b", "forged")).toMatch(/NOPERM/);
    expect(await attempt(user, "INCRBY", "{order}:points:u1", "5")).toMatch(/NOPERM/);
    expect(await attempt(user, "SMEMBERS", "{discovery}:svc:gateway")).toMatch(/NOPERM/);
    expect(await attempt(user, "UNLINK", "{rewards}:points:u1")).toMatch(/NOPERM/);
    expect(await attempt(user, "SCAN", "0")).toMatch(/NOPERM/);
  });
});
