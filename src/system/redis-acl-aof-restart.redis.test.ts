/**
 * newuser15 F1: with the generated ACL file's `default` line `off resetkeys resetchannels -@all`,
 * Redis 7 dropped from the AOF, at the next start, every MULTI/EXEC and every script with two or
 * more writes (Redis replays the AOF as `default` and re-checks ACL at EXEC: redis/redis#14541),
 * so a clean restart lost acknowledged data. Here a real redis-server loads the file the production
 * tool renders (`renderAclFile`, as redis-acl-file.js does) with `appendonly yes`; a service writes
 * through its own ACL user, the server is shut down and started again on the same directory, and
 * every key must be back, while an anonymous connection is still refused.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import {
  describeWithRedis,
  externalRedis,
  type RedisServer,
  startRedisServer,
} from "../test-support/redis.js";
import { aclUsers, renderAclFile } from "./redis-acl.js";

const dir = mkdtempSync(join(tmpdir(), "ordersaga-acl-aof-"));
const passwords: Record<string, string> = {
  user: "user-pw-0123456789abcdef",
  ops: "ops-pw-0123456789abcdef",
};
let server: RedisServer | undefined;
const clients: Redis[] = [];
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (port: number, options: { username?: string; password?: string } = {}) => {
  const client = new Redis(port, "127.0.0.1", {
    ...options,
    lazyConnect: true,
    // The anonymous client's ready check (INFO) is refused: its PING below is what is checked.
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  clients.push(client);
  return client;
};

const KEYS = [
  "{user}:aof:multi:a",
  "{user}:aof:multi:b",
  "{user}:aof:script:a",
  "{user}:aof:script:b",
  "{user}:aof:plain",
] as const;

// describeWithRedis for its skip when redis-server is missing; this test starts its own, with the file.
describeWithRedis("a Redis loading the production ACL file, restarted (AOF)", () => {
  it.skipIf(externalRedis)(
    "keeps every write a service's user made with MULTI/EXEC or a multi-write script; anonymous access stays refused",
    { timeout: 60_000 },
    async () => {
      const file = join(dir, "users.acl");
      const text = renderAclFile(
        await aclUsers(),
        (user) => {
          const password = passwords[user];
          return password ? createHash("sha256").update(password).digest("hex") : undefined;
        },
        { comments: false },
      );
      writeFileSync(file, text);
      server = await startRedisServer({
        args: ["--aclfile", file],
        auth: { username: "ops", password: passwords.ops! },
      });
      const service = connect(server.port, { username: "user", password: passwords.user! });
      await service.connect();
      // Redis 7 logs a script's effects as MULTI/EXEC when it writes twice or more.
      await service.eval(
        "redis.call('SET', KEYS[1], '1'); redis.call('SET', KEYS[2], '1'); return 1",
        2,
        KEYS[2],
        KEYS[3],
      );
      expect(await service.multi().set(KEYS[0], "1").set(KEYS[1], "1").exec()).toEqual([
        [null, "OK"],
        [null, "OK"],
      ]);
      await service.set(KEYS[4], "1");
      expect(await service.exists(...KEYS)).toBe(KEYS.length);
      service.disconnect();

      await server.shutdown();
      await server.start();

      const after = connect(server.port, { username: "user", password: passwords.user! });
      await after.connect();
      const survived = await Promise.all(KEYS.map(async (key) => [key, await after.exists(key)]));
      expect(Object.fromEntries(survived)).toEqual(Object.fromEntries(KEYS.map((key) => [key, 1])));
      const anonymous = connect(server.port);
      await anonymous.connect();
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
      await expect(anonymous.get(KEYS[4])).rejects.toThrow(/NOAUTH/);
    },
  );
});
