/**
 * Runs every service as its own process over Redis, like a small cluster on one machine:
 * prefixes each process's log lines, and on Ctrl-C (or SIGTERM) stops them all gracefully.
 *
 *   REDIS_URL=redis://localhost:6379 npm run start:services -- --instances inventory=2,order=2
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { isLaunchSignal } from "../lib/runtime/launch-signal.js";
import { KeyConfigError, type Keyring } from "../lib/security/keyring.js";
import {
  getProcessKeyring,
  keyringFromEnv,
  SIGNING_KEYS_ENV,
  SIGNING_KEYS_FILE_ENV,
} from "../lib/security/process-keys.js";
import { TOKEN_KEYS_ENV, TOKEN_PUBLIC_KEY_ENV, tokenKeysFromEnv } from "../lib/security/payment-token.js";
import {
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
  userDataSetting,
} from "../lib/security/user-data.js";
import { GATEWAY, SERVICES } from "./catalog.js";
import { portForRestart, portOf } from "./restart-port.js";
import { type RedisCredentials, SERVICE_COMMANDS } from "./redis-acl.js";
import { keysHeldBy, SIGNING_KEY_OWNERS } from "./signing-key-distribution.js";
import { VERIFIES } from "./signing-key-needs.js";

export interface ProcessSpec {
  label: string;
  main: string;
  /**
   * What the process sets on top of the launcher's environment, which it inherits without the
   * secrets it may not hold (`inheritedEnv`).
   */
  env: Record<string, string>;
  /** The service (or `gateway`) it runs: which inherited secrets it may hold. None when absent. */
  holder?: string;
}

export interface LaunchOptions {
  redisUrl: string;
  /** Instances per service name (default 1 each). */
  instances?: Record<string, number>;
  gatewayPort?: number;
  logLevel?: string;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  /**
   * Every process on a free port instead of its default, the gateway too unless `gatewayPort` is
   * given (tests; several systems on one machine).
   */
  anyPort?: boolean;
  /**
   * Ports from this base instead of the defaults: the service whose default is 3000 + n gets
   * base + n, the gateway base + 80 (unless `gatewayPort` is given). E.g. 4000: user 4001, gateway 4080.
   */
  portBase?: number;
  /**
   * Redis ACL credentials by user (a service's name, `gateway`): each process connects as its own
   * user (REDIS_USERNAME / REDIS_PASSWORD). See `provisionAclUsers`. Default: the URL's user.
   */
  redisUsers?: ReadonlyMap<string, RedisCredentials>;
  /**
   * The INSTANCE_SLOT prefix of every process (`<prefix>.<index>`): the launcher's claimed slot
   * (launch-guard.ts). Default: INSTANCE_SLOT given to the launcher, else none (the index alone).
   */
  slotPrefix?: string;
}

/**
 * The secret the gateway signs its calls to the services with: the one given (env or
 * GATEWAY_SHARED_SECRET), else a fresh random one for this launch, so the services' ports serve
 * only this gateway with no setup.
 */
function sharedSecretOf(options: LaunchOptions): string {
  return (
    options.env?.GATEWAY_SHARED_SECRET ?? process.env.GATEWAY_SHARED_SECRET ?? randomBytes(32).toString("hex")
  );
}

function redisUserEnv(options: LaunchOptions, user: string): Record<string, string> {
  const credentials = options.redisUsers?.get(user);
  return credentials ? { REDIS_USERNAME: credentials.username, REDIS_PASSWORD: credentials.password } : {};
}

/** A service in `SERVICES` that cannot run as its own process yet: what to add, and where. */
export class ServiceSetupError extends Error {
  readonly code = "SERVICE_NOT_SET_UP";
}

/**
 * Refuses a service the launcher could not start correctly: one with no Redis command list (its ACL
 * user; `SERVICE_COMMANDS` in src/system/redis-acl.ts) or missing from the generated
 * src/system/signing-key-needs.ts (it would be handed no key to verify what it consumes, and
 * dead-letter every event with `SIGNATURE_INVALID: unknown key id`). Both are fixed by one edit and
 * `npx tsx scripts/redis-acl.ts --write` (README "Add an event and a service", step 6).
 */
export function assertServicesSetUp(
  names: readonly string[] = SERVICES.map((s) => s.name),
  commands: Readonly<Record<string, unknown>> = SERVICE_COMMANDS,
  verifies: Readonly<Record<string, unknown>> = VERIFIES,
): void {
  for (const name of names) {
    if (!Object.hasOwn(commands, name)) {
      throw new ServiceSetupError(
        `service "${name}" has no Redis command list: add \`${name}: [<the Redis commands its own stores run>]\` ` +
          "to SERVICE_COMMANDS in src/system/redis-acl.ts, then run `npx tsx scripts/redis-acl.ts --write` " +
          "(it regenerates src/system/signing-key-needs.ts and ops/redis/users.acl)",
      );
    }
    if (!Object.hasOwn(verifies, name)) {
      throw new ServiceSetupError(
        `service "${name}" is missing from src/system/signing-key-needs.ts (it would get no key to verify ` +
          "the events it consumes): run `npx tsx scripts/redis-acl.ts --write`",
      );
    }
  }
}

/** With a port base, the gateway listens on base + this (4000: 4080). */
export const GATEWAY_PORT_OFFSET = 80;
/** The highest TCP port. */
export const MAX_PORT = 65_535;

/**
 * What to start: the first instance of a service on its default port (unless `anyPort`), extra ones
 * on a free port. Throws a ServiceSetupError for a service that is not set up (`assertServicesSetUp`).
 */
export function planProcesses(options: LaunchOptions): ProcessSpec[] {
  assertServicesSetUp();
  const common = {
    REDIS_URL: options.redisUrl,
    LOG_LEVEL: options.logLevel ?? "info",
    ...options.env,
  };
  const master = sharedSecretOf(options);
  const keyring = launcherKeyring(options.env);
  const slotPrefix = options.slotPrefix ?? options.env?.INSTANCE_SLOT ?? process.env.INSTANCE_SLOT;
  const specs: ProcessSpec[] = [];
  for (const service of SERVICES) {
    const count = options.instances?.[service.name] ?? 1;
    for (let i = 1; i <= count; i++) {
      specs.push({
        label: count > 1 ? `${service.name}#${i}` : service.name,
        main: service.main,
        holder: service.name,
        env: {
          ...inheritedEnv(common, service.name),
          ...withheldSecrets(service.name),
          ...keysFor(keyring, service.name),
          ...launcherTokenKeys(service.name, options.env),
          ...launcherUserDataKeys(service.name, options.env),
          ...redisUserEnv(options, service.name),
          SERVICE_NAME: service.name,
          // Its own credential secret, never the master (break-12 F8); "" hides an inherited one.
          GATEWAY_SHARED_SECRET: "",
          GATEWAY_SERVICE_SECRET: serviceCredentialSecret(master, service.name),
          // The process's index as its slot: the default INSTANCE_ID (`<service>-<host>-<slot>`) is
          // then the same on every relaunch, so a relaunched system resumes the old consumers'
          // pending work at once and leaves no dead consumers behind (newuser F18). A slot given to
          // the launcher itself (two systems on one host and one Redis) prefixes it.
          INSTANCE_SLOT: slotPrefix === undefined ? String(i) : `${slotPrefix}.${i}`,
          SERVICE_PORT: String(i === 1 && !options.anyPort ? firstPort(service.defaultPort, options) : 0),
        },
      });
    }
  }
  specs.push({
    label: GATEWAY.name,
    main: GATEWAY.main,
    holder: GATEWAY.name,
    env: {
      ...inheritedEnv(common, GATEWAY.name),
      ...withheldSecrets(GATEWAY.name),
      ...keysFor(keyring, GATEWAY.name),
      GATEWAY_SHARED_SECRET: master,
      ...redisUserEnv(options, GATEWAY.name),
      // Its index as its slot like every service's (`gateway-<host>-1`, not the pid): the same id
      // on every relaunch, so its registry entry is replaced rather than joined by a new one.
      INSTANCE_SLOT: slotPrefix === undefined ? "1" : `${slotPrefix}.1`,
      GATEWAY_PORT: String(
        options.gatewayPort ??
          (options.anyPort
            ? 0
            : options.portBase === undefined
              ? GATEWAY.defaultPort
              : options.portBase + GATEWAY_PORT_OFFSET),
      ),
    },
  });
  return specs;
}

/**
 * Checks the keys a launch would hand its children, before it claims anything (slot, development
 * secrets; newuser8 M4): the signing keys when configured or in production, and in production the
 * payment-token and user-data keys too. Generates nothing. Throws KeyConfigError, whose message
 * names the variable (`BUS_SIGNING_KEYS: key entry ...`, `NODE_ENV=production needs ...`).
 */
export function checkLaunchKeys(env: NodeJS.ProcessEnv = process.env): void {
  const production = env.NODE_ENV === "production";
  if (production || env[SIGNING_KEYS_ENV]?.trim() || env[SIGNING_KEYS_FILE_ENV]?.trim()) {
    const keyring = keyringFromEnv(env);
    // A valid list without some process's key was refused only once that process had started,
    // after the development secrets were written (newuser19 F5).
    const missing = keyring.autoGenerate ? [] : SIGNING_KEY_OWNERS.filter((name) => !keyring.current(name));
    if (missing.length > 0)
      throw new KeyConfigError(
        `${SIGNING_KEYS_ENV}: no key for ${missing.join(", ")}: every service and the gateway sign with their own (npx tsx scripts/generate-keys.ts prints a set)`,
      );
  }
  if (!production) return;
  tokenKeysFromEnv(env, TOKEN_KEYS_ENV);
  tokenKeysFromEnv(env, TOKEN_PUBLIC_KEY_ENV);
  userDataSetting(env, USER_DATA_KEYS_ENV);
  userDataSetting(env, USER_EMAIL_INDEX_KEY_ENV);
}

/**
 * The whole signing keyring the children's keys are taken from: the configured one (env or file),
 * else (development) this process's, with a key for every service and the gateway, so the children
 * and this process (a test's own publishers) trust each other.
 */
function launcherKeyring(extra: Record<string, string> | undefined): Keyring {
  const env = { ...process.env, ...extra };
  if (env[SIGNING_KEYS_ENV]?.trim() || env[SIGNING_KEYS_FILE_ENV]?.trim()) return keyringFromEnv(env);
  const keyring = getProcessKeyring();
  for (const name of SIGNING_KEY_OWNERS) keyring.ensure(name);
  return keyring;
}

/**
 * One process's signing keys: its own and those of the producers it verifies, never the others'
 * (break-12 F1: a holder of an HMAC key can forge its owner's messages). Given inline, so a
 * configured key file with every key is not handed on.
 */
function keysFor(keyring: Keyring, name: string): Record<string, string> {
  return { [SIGNING_KEYS_ENV]: keyring.subset(keysHeldBy(name)).serialize(), [SIGNING_KEYS_FILE_ENV]: "" };
}

/**
 * The payment token key pair (development, none configured): the private half to the payment
 * service only, the public half to the order service only (payment-token.ts).
 */
function launcherTokenKeys(
  service: string,
  extra: Record<string, string> | undefined,
): Record<string, string> {
  const env = { ...process.env, ...extra };
  const need =
    service === "payment" ? TOKEN_KEYS_ENV : service === "order" ? TOKEN_PUBLIC_KEY_ENV : undefined;
  if (!need || env[need]?.trim()) return {};
  return { [need]: tokenKeysFromEnv(env, need) };
}

/**
 * Users' contact data keys (development, none configured): made once in this process and handed to
 * the user service (data keys and email index key) and the notification service (data keys only);
 * no other process gets them (src/lib/security/user-data.ts).
 */
function launcherUserDataKeys(
  service: string,
  extra: Record<string, string> | undefined,
): Record<string, string> {
  if (service !== "user" && service !== "notification") return {};
  const env = { ...process.env, ...extra };
  const out: Record<string, string> = {};
  if (!env[USER_DATA_KEYS_ENV]?.trim() && !env[USER_DATA_KEYS_FILE_ENV]?.trim())
    out[USER_DATA_KEYS_ENV] = userDataSetting(env, USER_DATA_KEYS_ENV);
  if (service === "user" && !env[USER_EMAIL_INDEX_KEY_ENV]?.trim())
    out[USER_EMAIL_INDEX_KEY_ENV] = userDataSetting(env, USER_EMAIL_INDEX_KEY_ENV);
  return out;
}

/**
 * Which processes may hold each secret variable of the launcher's environment (docs/security.md);
 * every other process gets "". A child inherits that environment, so a key set there for one
 * service (new-user finding: every child got payment's private token key) would otherwise reach
 * them all.
 */
const SECRET_HOLDERS: Readonly<Record<string, readonly string[]>> = {
  [TOKEN_KEYS_ENV]: ["payment"],
  [TOKEN_PUBLIC_KEY_ENV]: ["order"],
  [USER_DATA_KEYS_ENV]: ["user", "notification"],
  [USER_DATA_KEYS_FILE_ENV]: ["user", "notification"],
  [USER_EMAIL_INDEX_KEY_ENV]: ["user"],
  GATEWAY_API_KEYS: ["gateway"],
  GATEWAY_ADMIN_API_KEYS: ["gateway"],
};

/**
 * Families of per-process secrets the README's production recipe puts in the launcher's
 * environment for it to hand out (`REDIS_PASSWORD_<USER>`, compose's `BUS_SIGNING_KEY_<NAME>` and
 * `GATEWAY_SECRET_<NAME>`, Prometheus's API key): no child holds them as they are; each gets its
 * own share as REDIS_PASSWORD, BUS_SIGNING_KEYS and GATEWAY_SERVICE_SECRET (break32 F1: every
 * process held every Redis password, the `ops` one included, and every signing key, so the gateway
 * could sign a `payment.processed` the order service accepted).
 */
const LAUNCHER_ONLY = /^(REDIS_PASSWORD_|BUS_SIGNING_KEY_|GATEWAY_SECRET_)|^PROMETHEUS_GATEWAY_API_KEY$/;

/** Whether the process running `holder` (a service's name, `gateway`; none: a bare process) may hold `name`. */
function mayHold(holder: string | undefined, name: string): boolean {
  if (LAUNCHER_ONLY.test(name)) return false;
  const holders = SECRET_HOLDERS[name];
  return holders === undefined || (holder !== undefined && holders.includes(holder));
}

/** Blanks the secrets this process may not hold. Spread before the process's own settings. */
function withheldSecrets(process: string): Record<string, string> {
  return Object.fromEntries(
    Object.keys(SECRET_HOLDERS)
      .filter((name) => !mayHold(process, name))
      .map((name) => [name, ""]),
  );
}

/**
 * The launcher's environment as a child running `holder` inherits it: without the secrets it may
 * not hold (`mayHold`). Its own settings (`ProcessSpec.env`) go on top.
 */
export function inheritedEnv<V extends string | undefined>(
  env: Readonly<Record<string, V>>,
  holder: string | undefined,
): Record<string, V> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => mayHold(holder, name)));
}

/** Default ports are 3000 + n; with a base they become base + n. */
const firstPort = (defaultPort: number, options: LaunchOptions): number =>
  options.portBase === undefined ? defaultPort : options.portBase + (defaultPort - 3000);

/** `inventory=2,order=2` → { inventory: 2, order: 2 }. */
export function parseInstances(spec: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (spec ?? "").split(",").filter(Boolean)) {
    const [name, count, extra] = part.split("=");
    // Decimal digits only: Number() also took "0x10" and "1e3" (break-late7 F6).
    const n = /^[1-9][0-9]*$/.test(count ?? "") ? Number(count) : NaN;
    if (!name || extra !== undefined || !SERVICES.some((s) => s.name === name) || !(n >= 1)) {
      throw new Error(
        `bad --instances entry "${part}" (expected <service>=<count>, services: ${SERVICES.map((s) => s.name).join(", ")})`,
      );
    }
    if (n > MAX_INSTANCES_PER_SERVICE)
      throw new Error(`--instances ${part}: at most ${MAX_INSTANCES_PER_SERVICE} instances of a service`);
    // Twice the same service (order=2,order=5, or two --instances): the last one silently won.
    if (name in out)
      throw new Error(`--instances names ${name} twice ("${name}=${out[name]}" and "${part}")`);
    out[name] = n;
  }
  return out;
}

/**
 * Most instances of one service a launcher starts: each is a Node process (~100 MB RSS, a few Redis
 * connections); more than this on one machine is a typo, not a plan (break-late7 F6: 99999 was taken).
 */
export const MAX_INSTANCES_PER_SERVICE = 32;

/** A process that exited while the launcher was not stopping it, with why when it said so. */
export interface ProcessExit {
  label: string;
  code: number | null;
  signal: string | null;
  /** The reason the process reported (IPC), else its last lines on stderr. */
  reason: string;
  /** True when it exited before it was up. */
  atStart: boolean;
}

export class LaunchError extends Error {
  constructor(readonly exits: readonly ProcessExit[]) {
    super(`could not start: ${exits.map((e) => `${e.label}: ${e.reason}`).join("; ")}`);
    this.name = "LaunchError";
  }
}

export interface LaunchedSystem {
  /** Each label's current process (a restarted one replaces its predecessor). */
  children: Map<string, ChildProcess>;
  /**
   * Resolves with each process's URL once every one reported it is up; rejects with a LaunchError
   * as soon as one exits before that (the others keep running: call stop()).
   */
  ready: Promise<Map<string, string>>;
  /** Called for every process that exits while the system is not being stopped. */
  onUnexpectedExit(listener: (exit: ProcessExit) => void): void;
  /** SIGTERM to every process; resolves when all have exited. */
  stop(): Promise<void>;
  /** SIGKILL to every process (a throwaway system: nothing to finish); resolves when all exited. */
  kill(): Promise<void>;
}

/** Why the compiled build cannot be run: `NO_BUILD` (never built), `STALE_BUILD` (a source is newer). */
export class CompiledBuildError extends Error {
  constructor(
    readonly code: "NO_BUILD" | "STALE_BUILD",
    message: string,
  ) {
    super(message);
    this.name = "CompiledBuildError";
  }
}

/** The compiled entry point of a source one: `src/services/user/main.ts` → `dist/services/user/main.js`. */
export function compiledMain(main: string): string {
  return main.replace(/^src\//, "dist/").replace(/\.ts$/, ".js");
}

/** Newest modification time (ms) of the non-test `.ts` files under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Throws a CompiledBuildError unless every entry point in `mains` (source paths, relative to `root`)
 * has a compiled file no older than the newest source under `root/src` (`npm run build` writes them
 * all at once): running code that is not the source would measure or serve the wrong thing.
 */
export function assertFreshBuild(mains: readonly string[], root = process.cwd()): void {
  const newest = newestSource(join(root, "src"));
  for (const main of mains) {
    const file = join(root, compiledMain(main));
    if (!existsSync(file))
      throw new CompiledBuildError("NO_BUILD", `${compiledMain(main)} does not exist: run npm run build`);
    if (statSync(file).mtimeMs < newest)
      throw new CompiledBuildError(
        "STALE_BUILD",
        `${compiledMain(main)} is older than the sources under src/: run npm run build`,
      );
  }
}

/** How a process that dies after it was up is started again (`LaunchRunOptions.respawn`). */
export interface RespawnPolicy {
  /** Wait before the first restart (ms, default 1 000); doubled per quick death, up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Longest wait between restarts (ms, default 30 000). */
  maxDelayMs?: number;
  /** Deaths in a row (each within `stableAfterMs` of its start) before giving up (default 5). */
  maxQuickDeaths?: number;
  /** A process up this long (ms, default 60 000) resets the backoff. */
  stableAfterMs?: number;
}

export interface LaunchRunOptions {
  /**
   * Start a process again, with the same environment (its keys and secrets are this launcher's
   * own), when it dies after it was up: bounded exponential backoff, every step logged. Off by
   * default (tests and the demo decide what a death means themselves).
   */
  respawn?: RespawnPolicy;
  /**
   * Run the compiled `dist/` entry points with plain `node` instead of the sources through tsx: no
   * TypeScript transform at start-up (seconds of CPU per process on a small machine). The build must
   * be fresh (`assertFreshBuild`, checked here: throws a CompiledBuildError otherwise).
   */
  compiled?: boolean;
}

export function launch(
  specs: readonly ProcessSpec[],
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  run: LaunchRunOptions = {},
): LaunchedSystem {
  if (run.compiled) assertFreshBuild(specs.map((s) => s.main));
  const children = new Map<string, ChildProcess>();
  const urls = new Map<string, string>();
  const listeners: ((exit: ProcessExit) => void)[] = [];
  const width = Math.max(...specs.map((s) => s.label.length));
  let stopping = false;
  let settleReady: { resolve(urls: Map<string, string>): void; reject(error: Error): void } | undefined;
  const ready = new Promise<Map<string, string>>((resolve, reject) => {
    settleReady = { resolve, reject };
  });
  ready.catch(() => {}); // a caller that never awaits it must not see an unhandled rejection
  const respawn = run.respawn;
  const timers = new Set<NodeJS.Timeout>();
  /** Each label's URL when it first came up: a restart takes its port again (`portForRestart`). */
  const firstUrls = new Map<string, string>();
  const start = (spec: ProcessSpec, restart: Restart = { deaths: 0 }) => {
    // An IPC channel: the child reports "ready" (with its URL) or why it failed (launch-signal.ts).
    const args = run.compiled ? [compiledMain(spec.main)] : ["--import", "tsx", spec.main];
    const child = spawn(process.execPath, args, {
      env: { ...inheritedEnv(process.env, spec.holder), ...spec.env, ...restart.env },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const startedAt = Date.now();
    const prefix = `[${spec.label.padEnd(width)}]`;
    const lastErrors: string[] = [];
    let reported: string | undefined;
    let up = false;
    createInterface({ input: child.stdout! }).on("line", (line) => write(`${prefix} ${line}`));
    createInterface({ input: child.stderr! }).on("line", (line) => {
      write(`${prefix} ${line}`);
      lastErrors.push(line);
      if (lastErrors.length > 5) lastErrors.shift();
    });
    child.on("message", (message) => {
      if (!isLaunchSignal(message)) return;
      if (message.type === "ordersaga:failed") {
        reported = message.reason;
        return;
      }
      up = true;
      if (restart.deaths > 0) write(`${prefix} restarted: up at ${message.url}`);
      const first = firstUrls.get(spec.label);
      if (first === undefined) firstUrls.set(spec.label, message.url);
      else if (restart.portTaken && portOf(message.url) !== portOf(first))
        write(
          `${prefix} warning: its port was taken by another process: now at ${message.url}, no longer at ` +
            `${first} (the URL printed at start); clients using ${first} must switch`,
        );
      urls.set(spec.label, message.url);
      // In the order given (services, then the gateway), not the order they came up in.
      // After the output already read in this turn of the event loop: a child writes its start-up
      // lines before it says it is ready, and they must come before the caller's banner.
      if (urls.size === specs.length)
        setImmediate(() =>
          settleReady?.resolve(new Map(specs.map((s) => [s.label, urls.get(s.label) ?? ""]))),
        );
    });
    child.on("exit", (code, signal) => {
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      write(`${prefix} exited (${how})`);
      if (stopping) return;
      const atStart = !urls.has(spec.label);
      const reason = reported ?? (lastErrors.length > 0 ? lastErrors.join(" / ") : how);
      const exit: ProcessExit = { label: spec.label, code, signal, reason, atStart };
      if (atStart) settleReady?.reject(new LaunchError([exit]));
      for (const listener of listeners) listener(exit);
      if (!respawn || atStart) return;
      // A death after the system was up: start it again, with backoff while it keeps dying quickly.
      const stable = up && Date.now() - startedAt >= (respawn.stableAfterMs ?? 60_000);
      const deaths = stable ? 1 : restart.deaths + 1;
      const maxDeaths = respawn.maxQuickDeaths ?? 5;
      if (deaths > maxDeaths) {
        write(
          `${prefix} not restarted: died ${maxDeaths} times in a row soon after starting (last: ${reason}); ` +
            "stop the system (Ctrl-C) and start it again once the cause is fixed",
        );
        return;
      }
      const delay = Math.min(
        (respawn.initialDelayMs ?? 1_000) * 2 ** (deaths - 1),
        respawn.maxDelayMs ?? 30_000,
      );
      write(`${prefix} restarting in ${delay} ms (restart ${deaths} of at most ${maxDeaths} in a row)`);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (stopping) return;
        void portForRestart(spec, firstUrls.get(spec.label)).then((port) => {
          if (stopping) return;
          if (port.taken) write(`${prefix} port ${port.taken} is taken: restarting on a free port`);
          start(spec, {
            deaths,
            ...(port.env ? { env: port.env } : {}),
            portTaken: port.taken !== undefined,
          });
        });
      }, delay);
      timers.add(timer);
    });
    children.set(spec.label, child);
  };
  for (const spec of specs) start(spec);
  return {
    children,
    ready,
    onUnexpectedExit: (listener) => {
      listeners.push(listener);
    },
    stop: () => {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      return signalAll(children, "SIGTERM");
    },
    kill: () => {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      return signalAll(children, "SIGKILL");
    },
  };
}

/** How a process is (re)started: deaths in a row so far, the port it is to take again. */
interface Restart {
  deaths: number;
  /** Environment over the spec's: its first port (`portForRestart`). */
  env?: Record<string, string>;
  /** Its first port was taken: it starts on a free one (warned once up). */
  portTaken?: boolean;
}

function signalAll(children: Map<string, ChildProcess>, signal: NodeJS.Signals): Promise<void> {
  return Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill(signal);
        }),
    ),
  ).then(() => {});
}
