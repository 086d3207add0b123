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
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

describeWithRedis("--redis-acl launches sharing a redis-server", (getRedis) => {
  const db = (n: number) => `${getRedis().url}/${n}`;

  it("a launch over database 2 leaves the users of a system over database 1 able to log in again", async () => {
    const first = await provisionLaunchUsers(open(db(1)), "main");
    const order = first.get("order")!;
    const before = open(db(1), order);
    await before.connect();
    expect(await before.ping()).toBe("PONG");
    before.disconnect();

    const second = await provisionLaunchUsers(open(db(2)), "main");

    // The first system's process reconnecting (after any blip) with the credentials it was given.
    const after = open(db(1), order);
    await after.connect();
    expect(await after.ping()).toBe("PONG");
    expect(second.get("order")!.username).toBe("order-db2");
  });

  it("a launch that would reset users a client is logged in as is refused, and changes nothing", async () => {
    const first = await provisionLaunchUsers(open(db(3)), "main");
    const order = first.get("order")!;
    const running = open(db(3), order);
    await running.connect();

    await expect(provisionLaunchUsers(open(db(3)), "main")).rejects.toThrow(AclUsersInUseError);
    await expect(provisionLaunchUsers(open(db(3)), "main")).rejects.toThrow(
      new RegExp(`"${order.username}".*already in use by connected clients`),
    );
    const again = open(db(3), order);
    await again.connect();
    expect(await again.ping()).toBe("PONG");
  });
});
