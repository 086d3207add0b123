/**
 * `start:services --redis-acl` over a redis-server shared by systems in different databases
 * (newuser8 H1): ACL users are server-wide, so a second launch must not reset the users the first
 * system's processes log in with, and a launch that would reset users someone is logged in as is
 * refused. Real redis-server.
 */
import { Redis } from "ioredis";
import { afterEach, expect, it } from "vitest";
import { describeWithRedis } from "../test-support/redis.js";
import { AclUsersInUseError, provisionLaunchUsers } from "./redis-acl.js";
import { GATEWAY, SERVICES } from "./catalog.js";

const clients: Redis[] = [];
const open = (url: string, options: { username?: string; password?: string } = {}) => {
  const client = new Redis(url, {
    ...options,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  clients.push(client);
  return client;
};
const EVERY = [...SERVICES.map((s) => s.name), GATEWAY.name];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

describeWithRedis("--redis-acl launches sharing a redis-server", (getRedis) => {
  const db = (n: number) => `${getRedis().url}/${n}`;

  it("a launch over database 2 leaves the users of a system over database 1 able to log in again", async () => {
    const first = await provisionLaunchUsers(open(db(1)), "main", EVERY);
    const order = first.get("order")!;
    const before = open(db(1), order);
    await before.connect();
    expect(await before.ping()).toBe("PONG");
    before.disconnect();

    const second = await provisionLaunchUsers(open(db(2)), "main", EVERY);

    // The first system's process reconnecting (after any blip) with the credentials it was given.
    const after = open(db(1), order);
    await after.connect();
    expect(await after.ping()).toBe("PONG");
    expect(second.get("order")!.username).toBe("order-db2");
  });

  it("a launch that would reset users a client is logged in as is refused, and changes nothing", async () => {
    const first = await provisionLaunchUsers(open(db(3)), "main", EVERY);
    const order = first.get("order")!;
    const running = open(db(3), order);
    await running.connect();

    await expect(provisionLaunchUsers(open(db(3)), "main", EVERY)).rejects.toThrow(AclUsersInUseError);
    await expect(provisionLaunchUsers(open(db(3)), "main", EVERY)).rejects.toThrow(
      new RegExp(`"${order.username}".*already in use by connected clients`),
    );
    const again = open(db(3), order);
    await again.connect();
    expect(await again.ping()).toBe("PONG");
  });

  it("creates the users of the processes it launches only, not the tools' nor other services'", async () => {
    const admin = open(db(4));
    const added = await provisionLaunchUsers(admin, "add1", ["order"]);
    expect([...added.keys()]).toEqual(["order"]);
    const users = (await admin.call("ACL", "USERS")) as string[];
    expect(users.filter((user) => user.endsWith("-db4-add1"))).toEqual(["order-db4-add1"]);
    const login = open(db(4), added.get("order")!);
    await login.connect();
    expect(await login.ping()).toBe("PONG");
    await expect(provisionLaunchUsers(open(db(5)), "add2", ["ordr"])).rejects.toThrow(
      /no Redis ACL rules for ordr/,
    );
  });
});
