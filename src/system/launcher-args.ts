/**
 * `npm run start:services`'s command line, parsed and checked in full before the launcher claims
 * anything or starts a process (newuser7 F6: a bad `--instances` used to throw, with a stack trace,
 * after the launcher's slot was claimed, so the corrected command was refused for the slot's 15 s
 * lease). A mistake is a LauncherArgsError whose message is one line naming the valid values.
 */
import { type CliOption, parseCliOptions, usageRows } from "../lib/runtime/cli-options.js";
import { SERVICES } from "./catalog.js";
import { GATEWAY_PORT_OFFSET, MAX_PORT, parseInstances } from "./launcher.js";

/** The options, with what each does: `--help` prints them (names fixed by the README). */
const OPTIONS = {
  instances: {
    type: "string",
    multiple: true,
    value: "<service>=<n>,...",
    help: "more instances of a service, e.g. inventory=2,order=2",
  },
  "port-base": { type: "string", value: "<port>", help: "services on <port>+1.., the gateway on <port>+80" },
  // Every process, the gateway included (newuser9 F4: the text said "every service").
  "any-port": {
    type: "boolean",
    help: "every process on a free port, the gateway too unless GATEWAY_PORT is set (also SERVICE_PORT=0); a restarted one takes its first port again",
  },
  "redis-acl": { type: "boolean", help: "each process as its own Redis ACL user, created here" },
  compiled: { type: "boolean", help: "run the dist/ build with plain node (after npm run build)" },
  "add-instances": {
    type: "boolean",
    help: "add processes to the system running over REDIS_URL (its secrets in the environment)",
  },
  help: { type: "boolean", help: "print this and exit" },
} as const satisfies Record<string, CliOption>;

/** A mistaken argument: the message is one line saying what is wrong and what is valid. */
export class LauncherArgsError extends Error {
  constructor(message: string) {
    super(`${message} (npm run start:services -- --help lists the options)`);
    this.name = "LauncherArgsError";
  }
}

export interface LauncherArgs {
  help: boolean;
  /** Service name → instance count (`--instances`), checked against the catalog. */
  instances: Record<string, number>;
  portBase?: number;
  anyPort: boolean;
  redisAcl: boolean;
  compiled: boolean;
  addInstances: boolean;
}

/** The usage text `--help` prints. */
export function launcherUsage(): string {
  const rows = usageRows(OPTIONS, 30);
  return (
    "usage: npm run start:services -- [options]   (over REDIS_URL, default redis://localhost:6379)\n" +
    `${rows.join("\n")}\nservices: ${SERVICES.map((s) => s.name).join(", ")}\n`
  );
}

/** Parses `argv` (without node and the script); throws LauncherArgsError for any mistake. */
export function parseLauncherArgs(argv: readonly string[]): LauncherArgs {
  const values = parseCliOptions(argv, OPTIONS, (message) => new LauncherArgsError(message));
  let instances: Record<string, number>;
  try {
    // Repeated --instances add up (each service named once in all).
    instances = parseInstances((values.instances as string[] | undefined)?.join(","));
  } catch (error) {
    throw new LauncherArgsError((error as Error).message);
  }
  const rawBase = values["port-base"] as string | undefined;
  const portBase = rawBase === undefined ? undefined : /^[0-9]+$/.test(rawBase) ? Number(rawBase) : NaN;
  if (portBase !== undefined && !(Number.isInteger(portBase) && portBase > 0 && portBase <= MAX_PORT))
    throw new LauncherArgsError(`--port-base must be a port number (got "${rawBase}")`);
  // The gateway's port is the highest (base + 80): say so rather than "not a port number" (newuser8 L4).
  if (portBase !== undefined && portBase + GATEWAY_PORT_OFFSET > MAX_PORT)
    throw new LauncherArgsError(
      `--port-base ${portBase} is too high: the gateway would listen on ${portBase + GATEWAY_PORT_OFFSET}, ` +
        `above ${MAX_PORT} (use at most ${MAX_PORT - GATEWAY_PORT_OFFSET})`,
    );
  return {
    help: values.help === true,
    instances,
    ...(portBase === undefined ? {} : { portBase }),
    anyPort: values["any-port"] === true,
    redisAcl: values["redis-acl"] === true,
    compiled: values.compiled === true,
    addInstances: values["add-instances"] === true,
  };
}
