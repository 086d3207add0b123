import { randomBytes } from "node:crypto";
/**
 * Newuser9 F5: a password in REDIS_URL for a Redis that has none printed ioredis's raw "[WARN] ...
 * does not require a password" twice and the process started, over what is probably not the Redis
 * meant. Now: refused in production (one line, exit 1), one warning line in development. Real
 * processes over a real (passwordless) redis-server.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { childrenKilledAfterEach, startUntilReady } from "../../test-support/child-run.js";

const running = childrenKilledAfterEach();

/** Starts the notification service; resolves on ready ("ready") or exit (its code), with its output. */
const start = (env: NodeJS.ProcessEnv) =>
  startUntilReady(
    "src/services/notification/main.ts",
    { ...process.env, LOG_LEVEL: "info", SERVICE_PORT: "0", ...env },
    running,
  );

describeWithRedis("a password set for a Redis that has none", (getRedis) => {
  const withPassword = () => {
    const url = new URL(getRedis().url);
    url.password = "wrong";
    return url.toString();
  };

  it("starts in development with one warning line naming REDIS_URL, no raw ioredis text", async () => {
    const { outcome, output } = await start({ NODE_ENV: "development", REDIS_URL: withPassword() });
    expect(outcome, output).toBe("ready");
    expect(output).not.toContain("[WARN]");
    expect(output).not.toContain("wrong");
    const warnings = output.split("\n").filter((line) => line.includes("has none"));
    expect(warnings, output).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({
      level: "warn",
      msg: expect.stringMatching(/REDIS_URL/),
    });
  }, 90_000);

  it("refuses to start in production, in one line, exit 1", async () => {
    const { outcome, output } = await start({
      NODE_ENV: "production",
      REDIS_URL: withPassword(),
      GATEWAY_SERVICE_SECRET: "s".repeat(40),
      // Checked before Redis is asked anything (newuser10 F4): a valid key, so the Redis check is reached.
      BUS_SIGNING_KEYS: `notification:notification-1:${randomBytes(32).toString("base64")}`,
    });
    expect(outcome, output).toBe(1);
    expect(output).toMatch(
      /notification could not start: a password is set \(REDIS_URL\) but the Redis at .* has none/,
    );
    expect(output).not.toContain("[WARN]");
  }, 90_000);
});
