/**
 * break44 F3: in production, a service or the gateway connecting as Redis `default` (every right)
 * said nothing. Now one warning line at start names the user; none as the process's generated
 * user (ACL WHOAMI is NOPERM for it). Real processes over a real redis-server.
 */
import { expect, it } from "vitest";
import { Keyring } from "../security/keyring.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { SERVICES } from "../../system/catalog.js";
import { aclUsers, provisionAclUsers } from "../../system/redis-acl.js";
import { childrenKilledAfterEach, startUntilReady } from "../../test-support/child-run.js";

const running = childrenKilledAfterEach();

/** This environment without a Redis login of its own (the default user unless a test sets one). */
const { REDIS_USERNAME: _user, REDIS_PASSWORD: _password, ...inherited } = process.env;

const KEYS = Keyring.generate([...SERVICES.map((s) => s.name), "gateway"]).serialize();

/** Starts `main` in production; resolves on ready or exit (its code), with its output. */
const start = (main: string, env: NodeJS.ProcessEnv) =>
  startUntilReady(
    main,
    {
      ...inherited,
      NODE_ENV: "production",
      LOG_LEVEL: "info",
      SERVICE_PORT: "0",
      GATEWAY_PORT: "0",
      BUS_SIGNING_KEYS: KEYS,
      GATEWAY_SERVICE_SECRET: "s".repeat(40),
      GATEWAY_SHARED_SECRET: "t".repeat(40),
      GATEWAY_API_KEYS: "a-real-client-key-0123456789abcdef",
      GATEWAY_ADMIN_API_KEYS: "a-real-admin-key-0123456789abcdef0",
      ...env,
    },
    running,
  );

const warnings = (output: string) => output.split("\n").filter((line) => line.includes("ACL WHOAMI"));

describeWithRedis("production start as a Redis user with more than its own keys", (getRedis) => {
  for (const [process, main] of [
    ["inventory", "src/services/inventory/main.ts"],
    ["gateway", "src/gateway/main.ts"],
  ] as const) {
    it(`${process}: one warning line as default, none as its generated user`, async () => {
      const asDefault = await start(main, { REDIS_URL: getRedis().url });
      expect(asDefault.outcome, asDefault.output).toBe("ready");
      const lines = warnings(asDefault.output);
      expect(lines, asDefault.output).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: "warn",
        msg: expect.stringMatching(
          /Redis user "default" holds more than .*REDIS_USERNAME \/ REDIS_PASSWORD \(README "In production without Docker", docs\/security.md "Redis ACL"\)/,
        ),
      });

      const users = (await aclUsers()).filter((user) => user.name === process);
      const credentials = await provisionAclUsers(getRedis().client(), {
        users,
        nameOf: (user) => `${user}-b44f3`,
      });
      const { username, password } = credentials.get(process)!;
      const own = await start(main, {
        REDIS_URL: getRedis().url,
        REDIS_USERNAME: username,
        REDIS_PASSWORD: password,
      });
      expect(own.outcome, own.output).toBe("ready");
      expect(warnings(own.output), own.output).toEqual([]);
    }, 120_000);
  }
});
