/**
 * Newuser9 F1: `npm run demo -- --help` (and any mistaken argument) crashed with node's parseArgs
 * stack trace. Now `--help` prints the usage, exit 0; a mistake is one line naming the valid options,
 * exit 2, before anything starts (the entry point run as a user runs it, a child process).
 */
import { afterAll, describe, expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { DemoArgsError, parseDemoArgs } from "./demo-args.js";

afterAll(() => killRuns());

// One node process booting tsx on a loaded machine; it exits before starting anything.
const BOUND_MS = 60_000;
// No Redis, no gateway: a run that got past its arguments would start the embedded system.
const demo = (args: string[]) => runEntryPoint("src/demo/main.ts", args, { REDIS_URL: "" });

describe("npm run demo's command line", () => {
  it(
    "--help and -h print the usage with every option, exit 0",
    async () => {
      for (const flag of ["--help", "-h"]) {
        const r = demo([flag]);
        expect(await exitWithin(r, BOUND_MS), r.output()).toBe(0);
        for (const option of ["--gateway", "--api-key", "--timeout"]) expect(r.output()).toContain(option);
        expect(r.output()).toMatch(/^usage: npm run demo/);
        expect(r.output(), "no stack trace").not.toMatch(/\n\s+at /);
      }
    },
    BOUND_MS * 3,
  );

  it(
    "a mistaken argument is one line naming the valid options, exit 2",
    async () => {
      for (const [args, message] of [
        [["--bogus"], /unknown option "--bogus" \(options: --gateway, --api-key, --timeout, --help\)/],
        [["--gateway"], /--gateway needs a value/],
        [["extra"], /unexpected argument "extra"/],
      ] as const) {
        const r = demo([...args]);
        expect(await exitWithin(r, BOUND_MS), r.output()).toBe(2);
        expect(r.output()).toMatch(message);
        expect(r.output().trim().split("\n"), r.output()).toHaveLength(1);
        expect(r.output()).toMatch(/--help lists the options/);
      }
    },
    BOUND_MS * 4,
  );
});

describe("parseDemoArgs", () => {
  const mistake = (args: string[]) => {
    try {
      parseDemoArgs(args);
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(DemoArgsError);
      return (error as Error).message;
    }
  };

  it("takes the documented options", () => {
    expect(parseDemoArgs(["--gateway", "http://h:1", "--api-key", "k", "--timeout", "30000"])).toEqual({
      help: false,
      gateway: "http://h:1",
      apiKey: "k",
      timeoutMs: 30_000,
    });
  });

  it("refuses a value-less option before another option and a timeout that is not a number", () => {
    expect(mistake(["--gateway", "--help"])).toMatch(/^--gateway needs a value/);
    expect(mistake(["--timeout", "soon"])).toMatch(
      /--timeout must be a whole number of milliseconds \(got "soon"\)/,
    );
    expect(mistake(["--timeout", "0"])).toMatch(/--timeout must be/);
  });

  // newuser16 F6: "--timeout -5" answered "needs a value", though one was given.
  it("says a negative number reads as an option, and how to pass it", () => {
    expect(mistake(["--timeout", "-5"])).toMatch(
      /^--timeout needs a value \("-5" reads as an option: write --timeout=-5\)/,
    );
    expect(mistake(["--timeout=-5"])).toMatch(
      /--timeout must be a whole number of milliseconds \(got "-5"\)/,
    );
  });
});
