/**
 * `npm run demo`'s command line (newuser9 F1): `--help` prints the usage, exit 0; a mistaken
 * argument is a DemoArgsError whose message is one line naming the valid options (exit 2), as for
 * `npm run start:services` (launcher-args.ts). It used to be node's parseArgs error with a stack.
 */
import { type CliOption, parseCliOptions, usageRows } from "../lib/runtime/cli-options.js";

/** The options, with what each does: `--help` prints them (names fixed by the README). */
const OPTIONS = {
  gateway: { type: "string", value: "<url>", help: "run against this gateway (any running system)" },
  "api-key": {
    type: "string",
    value: "<key>",
    help: "an admin API key for a gateway with API keys (also GATEWAY_API_KEY)",
  },
  timeout: {
    type: "string",
    value: "<ms>",
    help: "how long each scenario waits for its outcome, in ms (default 15000)",
  },
  help: { type: "boolean", short: "h", help: "print this and exit (also -h)" },
} as const satisfies Record<string, CliOption>;

/** A mistaken argument: the message is one line saying what is wrong and what is valid. */
export class DemoArgsError extends Error {
  constructor(message: string) {
    super(`${message} (npm run demo -- --help lists the options)`);
    this.name = "DemoArgsError";
  }
}

export interface DemoArgs {
  help: boolean;
  gateway?: string;
  apiKey?: string;
  /** Per-scenario wait, ms (a positive whole number). */
  timeoutMs?: number;
}

/** The usage text `--help` prints. */
export function demoUsage(): string {
  const rows = usageRows(OPTIONS, 20);
  return (
    "usage: npm run demo -- [options]   (embedded; with REDIS_URL the system running over it, or one of its own)\n" +
    `${rows.join("\n")}\n`
  );
}

/** Parses `argv` (without node and the script); throws DemoArgsError for any mistake. */
export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const values = parseCliOptions(argv, OPTIONS, (message) => new DemoArgsError(message));
  const rawTimeout = values.timeout as string | undefined;
  let timeoutMs: number | undefined;
  if (rawTimeout !== undefined) {
    timeoutMs = /^[0-9]+$/.test(rawTimeout) ? Number(rawTimeout) : NaN;
    if (!(Number.isSafeInteger(timeoutMs) && timeoutMs > 0))
      throw new DemoArgsError(`--timeout must be a whole number of milliseconds (got "${rawTimeout}")`);
  }
  const gateway = values.gateway as string | undefined;
  const apiKey = values["api-key"] as string | undefined;
  return {
    help: values.help === true,
    ...(gateway === undefined ? {} : { gateway }),
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}
