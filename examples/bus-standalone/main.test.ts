/**
 * The standalone bus example runs as a user would run it (a child process over a real Redis) and
 * handles every message it publishes, the must-complete handler's transient failure included; over a
 * Redis that does not answer it fails in one line and exits 1 (newuser9 F15: it retried forever,
 * printing "[ioredis] Unhandled error event" every reconnect).
 */
import { execFile } from "node:child_process";
import { hostname } from "node:os";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../../src/test-support/child-run.js";
import { describeWithRedis, UNREACHABLE_PORT } from "../../src/test-support/redis.js";

const run = promisify(execFile);

describeWithRedis("standalone bus example", (getRedis) => {
  it("publishes, handles every message, retries the must-complete failure (all handlers again) and stops cleanly", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    await redis.set("not-the-example", "1");
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "examples/bus-standalone/main.ts", "4"],
      {
        env: { ...process.env, REDIS_URL: getRedis().url, LOG_LEVEL: "silent" },
        timeout: 60_000,
      },
    );
    const lines = stdout.trim().split("\n");
    const handled = lines.filter((l) => l.startsWith("handled "));
    expect(new Set(handled)).toEqual(
      new Set(["handled friend-0", "handled friend-1", "handled friend-2", "handled friend-3"]),
    );
    // A retry runs every handler of the message again: the first handler saw the retried one twice.
    expect(handled).toHaveLength(5);
    // The must-complete handler's first call failed; its message was retried and then succeeded.
    expect(lines.filter((l) => l.startsWith("retried "))).toHaveLength(1);
    expect(lines.at(-1)).toBe("done 4");
    // Newuser8 L7: it left its streams in the database it ran in. Only its own keys go.
    expect(await redis.keys("*")).toEqual(["not-the-example"]);
  }, 90_000);

  it("trims its streams as the owner and its group's redeliver stream: what every group handled is gone (break29 F1)", async () => {
    // break29 F1: the recipe published and acked, and every entry stayed: nothing trimmed, so a
    // steady publisher filled Redis (noeviction). The program runs the StreamTrimmer the services
    // run, and a last pass on its way out; KEEP_KEYS=1 leaves what that pass left.
    await getRedis().flush();
    const redis = getRedis().client();
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "examples/bus-standalone/main.ts", "30"],
      {
        env: { ...process.env, REDIS_URL: getRedis().url, LOG_LEVEL: "silent", KEEP_KEYS: "1" },
        timeout: 60_000,
      },
    );
    expect(stdout.trim().split("\n").at(-1)).toBe("done 30");
    const stream = "{greeter}:ev:greeting.sent";
    // The group still exists (a restart resumes) and has handled every entry: none is kept.
    const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
    expect(groups.map((g) => g[1])).toEqual(["greeter-readers"]);
    expect(await redis.xlen(stream)).toBe(0);
    await getRedis().flush();
  }, 90_000);

  it("names its consumer by INSTANCE_SLOT as the services do: restarts leave one consumer in the group", async () => {
    // break20 F11: named by pid, each run left a consumer per stream in the group for an hour.
    await getRedis().flush();
    const redis = getRedis().client();
    const env = {
      ...process.env,
      REDIS_URL: getRedis().url,
      LOG_LEVEL: "silent",
      KEEP_KEYS: "1",
      INSTANCE_SLOT: "3",
    };
    for (let i = 0; i < 2; i++)
      await run(process.execPath, ["--import", "tsx", "examples/bus-standalone/main.ts", "1"], {
        env,
        timeout: 60_000,
      });
    const consumers = (await redis.xinfo(
      "CONSUMERS",
      "{greeter}:ev:greeting.sent",
      "greeter-readers",
    )) as unknown[][];
    expect(consumers.map((c) => c[1])).toEqual([`greeter-${hostname()}-3`]);
    await getRedis().flush();
  }, 120_000);
});

it("over an unreachable Redis says so in one line and exits 1 within the connect timeout", async () => {
  const port = UNREACHABLE_PORT;
  const r = runEntryPoint("examples/bus-standalone/main.ts", ["2"], {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_CONNECT_TIMEOUT_MS: "2000",
  });
  try {
    // Generous: tsx boot on a loaded machine; it used to never exit.
    expect(await exitWithin(r, 45_000), r.output()).toBe(1);
    expect(r.output().trim().split("\n"), r.output()).toHaveLength(1);
    expect(r.output()).toMatch(
      new RegExp(`Redis is unreachable \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`),
    );
    expect(r.output()).not.toContain("Unhandled error event");
  } finally {
    killRuns();
  }
}, 60_000);

// newuser14 F1: the password of REDIS_URL was printed in clear.
it("names an unreachable Redis with its password as ***", async () => {
  const port = UNREACHABLE_PORT;
  const r = runEntryPoint("examples/bus-standalone/main.ts", ["2"], {
    REDIS_URL: `redis://ops:s3cret-pw@127.0.0.1:${port}`,
    REDIS_CONNECT_TIMEOUT_MS: "2000",
  });
  try {
    expect(await exitWithin(r, 45_000), r.output()).toBe(1);
    expect(r.output()).toContain(`cannot use Redis at redis://ops:***@127.0.0.1:${port}`);
    expect(r.output()).not.toContain("s3cret-pw");
  } finally {
    killRuns();
  }
}, 60_000);

// newuser11 F4: a bad count ran nothing and ended "done 0", exit 1, with no reason (1.5 sent two).
it.each(["abc", "0", "-3", "1.5"])(
  "refuses the count %s in one usage line, exit 2, before Redis",
  async (count) => {
    const r = runEntryPoint("examples/bus-standalone/main.ts", [count], {
      // Nothing listens there: a count that got past the check would say Redis is unreachable.
      REDIS_URL: `redis://127.0.0.1:${UNREACHABLE_PORT}`,
      REDIS_CONNECT_TIMEOUT_MS: "2000",
    });
    try {
      expect(await exitWithin(r, 45_000), r.output()).toBe(2);
      expect(r.output().trim().split("\n"), r.output()).toEqual([
        `bus-standalone: the message count must be a whole number from 1 to 999999 (got "${count}"); ` +
          "usage: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/bus-standalone/main.ts [count, default 5]",
      ]);
    } finally {
      killRuns();
    }
  },
  60_000,
);
