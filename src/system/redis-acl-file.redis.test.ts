/**
 * newuser13 F4: the file `redis-acl-file.js` writes (what compose's Redis and the no-Docker recipe
 * load with `aclfile`) had comment lines, and Redis refuses to start on an ACL file with any line
 * not starting with `user`. Here the real tool writes the file and a real redis-server loads it:
 * `default` is off (no anonymous access) and a service logs in with its REDIS_PASSWORD_<USER>.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { describeWithRedis, freePort } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "ordersaga-aclfile-"));
let server: ChildProcess | undefined;
const clients: Redis[] = [];
afterAll(() => {
  for (const client of clients) client.disconnect();
  server?.kill("SIGKILL");
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

// describeWithRedis for its skip when redis-server is missing; this test starts its own, with the file.
describeWithRedis("the ACL file Redis loads (redis-acl-file.js)", () => {
  it(
    "is loaded by redis-server: default off, each user on with its REDIS_PASSWORD_<USER>",
    { timeout: 60_000 },
    async () => {
      const file = join(dir, "users.acl");
      const env = { ...process.env, REDIS_PASSWORD_ORDER: "order-pw-0123456789abcdef0123456789" };
      await run(process.execPath, ["--import", "tsx", "src/system/redis-acl-file.ts", file], {
        env,
        timeout: 60_000,
      });
      const port = await freePort();
      let output = "";
      server = spawn("redis-server", [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--aclfile",
        file,
      ]);
      server.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      await waitFor(
        () => server!.exitCode !== null || output.includes("Ready to accept connections"),
        20_000,
        "redis-server up with the ACL file, or exited",
      );
      expect(server.exitCode, output).toBeNull();
      const order = connect(port, { username: "order", password: "order-pw-0123456789abcdef0123456789" });
      await order.connect();
      expect(await order.ping()).toBe("PONG");
      const anonymous = connect(port);
      await anonymous.connect();
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH|NOPERM/);
      // Users without a password variable are off: no login.
      const ops = connect(port, { username: "ops", password: "anything" });
      await ops.connect().catch(() => {});
      await expect(ops.ping()).rejects.toThrow();
    },
  );
});
