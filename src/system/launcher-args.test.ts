/**
 * Newuser7 F6 (real processes, real Redis): a mistake in `npm run start:services`'s arguments is one
 * line naming the valid values, exit 2, before anything is claimed or started: a bad `--instances`
 * used to crash with a stack trace after the launcher had claimed its slot (15 s lease), so the
 * corrected command right after was refused as "another launcher". `--help` lists the options.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { LauncherArgsError, parseLauncherArgs } from "./launcher-args.js";

afterAll(() => killRuns());

// One node process booting tsx on a loaded machine; it exits before starting any child.
const BOUND_MS = 60_000;

describeWithRedis("npm run start:services with a mistaken argument", (getRedis) => {
  const launcher = (args: string[]) =>
    runEntryPoint("src/system/start-services.ts", args, { LOG_LEVEL: "warn", REDIS_URL: getRedis().url });

  it(
    "says what is wrong in one line, exits 2 and claims nothing",
    async () => {
      const redis = new Redis(getRedis().url);
      try {
        for (const [args, message] of [
          [["--instances", "orders=2"], /bad --instances entry "orders=2" .*services: .*order/],
          [["--instance", "order=2"], /unknown option "--instance" \(options: .*--instances/],
          [["--port-base", "abc"], /--port-base must be a port number/],
          [["--any-port", "extra"], /unexpected argument "extra"/],
        ] as const) {
          const r = launcher([...args]);
          expect(await exitWithin(r, BOUND_MS), r.output()).toBe(2);
          expect(r.output()).toMatch(message);
          expect(r.output()).toMatch(/--help/);
          expect(r.output(), "no stack trace").not.toMatch(/\n\s+at /);
          expect(r.output()).not.toMatch(/development secrets/);
        }
        expect(await redis.keys("ordersaga:launcher:slot:*")).toEqual([]);
        expect(await redis.dbsize()).toBe(0);
      } finally {
        redis.disconnect();
      }
    },
    BOUND_MS * 5,
  );

  it(
    "--help lists every option and exits 0",
    async () => {
      const r = launcher(["--help"]);
      expect(await exitWithin(r, BOUND_MS)).toBe(0);
      for (const option of [
        "--instances",
        "--port-base",
        "--any-port",
        "--redis-acl",
        "--compiled",
        "--add-instances",
      ])
        expect(r.output()).toContain(option);
      expect(r.output()).not.toMatch(/\n\s+at /);
      // Newuser9 F4: --any-port moves the gateway too (README), the help said "every service".
      expect(r.output()).toMatch(/--any-port .*the gateway too/);
    },
    BOUND_MS,
  );

  it(
    "--add-instances where no system runs says so and starts nothing (newuser9 F10)",
    async () => {
      const redis = new Redis(getRedis().url);
      try {
        await redis.flushdb();
        // Without the shared secrets (it used to point at a .dev-secrets file no system made) and
        // with them: either way there is nothing to add to.
        for (const env of <Record<string, string>[]>[
          { GATEWAY_SHARED_SECRET: "", BUS_SIGNING_KEYS: "" },
          { GATEWAY_SHARED_SECRET: "s".repeat(32) },
        ]) {
          const r = runEntryPoint(
            "src/system/start-services.ts",
            ["--add-instances", "--instances", "order=1"],
            {
              LOG_LEVEL: "warn",
              REDIS_URL: getRedis().url,
              ...env,
            },
          );
          expect(await exitWithin(r, BOUND_MS), r.output()).toBe(1);
          expect(r.output()).toContain(`no system runs over ${getRedis().url}: start one first`);
          expect(r.output()).not.toContain(".dev-secrets");
          expect(r.output()).not.toMatch(/Ordersaga is up|started/);
        }
        expect(await redis.keys("ordersaga:launcher:slot:*")).toEqual([]);
      } finally {
        redis.disconnect();
      }
    },
    BOUND_MS * 3,
  );
});

describe("the launcher's arguments, parsed (break-late7 F6)", () => {
  const mistake = (args: string[]) => {
    try {
      parseLauncherArgs(args);
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(LauncherArgsError);
      return (error as Error).message;
    }
  };

  it("adds up repeated --instances instead of keeping only the last", () => {
    expect(parseLauncherArgs(["--instances", "order=2", "--instances", "user=3"]).instances).toEqual({
      order: 2,
      user: 3,
    });
  });

  it("refuses a service named twice, a count that is not plain decimal digits, and an absurd count", () => {
    expect(mistake(["--instances", "order=2,order=5"])).toMatch(/names order twice/);
    expect(mistake(["--instances", "order=2", "--instances", "order=5"])).toMatch(/names order twice/);
    expect(mistake(["--instances", "order=0x10"])).toMatch(/bad --instances entry "order=0x10"/);
    expect(mistake(["--instances", "order=1e3"])).toMatch(/bad --instances entry/);
    expect(mistake(["--instances", "order=2=3"])).toMatch(/bad --instances entry/);
    expect(mistake(["--instances", "order=99999"])).toMatch(/at most 32 instances/);
  });

  it("refuses a --port-base that is not plain decimal digits", () => {
    expect(mistake(["--port-base", "0x10"])).toMatch(/--port-base must be a port number \(got "0x10"\)/);
    expect(mistake(["--port-base", "1e3"])).toMatch(/--port-base must be a port number/);
    expect(parseLauncherArgs(["--port-base", "4000"]).portBase).toBe(4000);
  });

  // newuser8 L4: 65530 was "must be a port number", though it is one; the gateway's is not.
  it("says a --port-base is too high when the gateway's port (base + 80) would pass 65535", () => {
    expect(mistake(["--port-base", "65530"])).toMatch(
      /^--port-base 65530 is too high: the gateway would listen on 65610, above 65535 \(use at most 65455\)/,
    );
    expect(parseLauncherArgs(["--port-base", "65455"]).portBase).toBe(65455);
    expect(mistake(["--port-base", "70000"])).toMatch(/--port-base must be a port number \(got "70000"\)/);
  });
});
