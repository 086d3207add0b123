/**
 * `npm run start:services`: every service as its own process over Redis. Waits until each is up and
 * prints where the gateway and every service listen; a process that cannot start is reported with
 * its reason and the whole launch stops with exit code 1.
 *
 *   npm run start:services -- --instances inventory=2 --port-base 4000   (or --any-port; --help)
 *   npm run start:services -- --redis-acl   (each process as its own Redis ACL user, made here; or,
 *     with REDIS_PASSWORD_<USER> set, the users of the ACL file Redis loaded: nothing is changed)
 *   npm run build && npm run start:services -- --compiled   (plain node on dist/: fast start-up)
 *   npm run start:services -- --add-instances --any-port --instances order=2   (more processes for
 *     the system already running over REDIS_URL; needs its secrets and keys in the environment)
 *
 * A system already running over REDIS_URL is never joined by accident: the launch is refused,
 * saying what runs (launch-guard.ts). A process that dies after start is restarted (backoff, logged).
 */
import { ResendGuardRedis } from "../lib/redis/resend-guard.js";
import { startFailureReason } from "../lib/runtime/launch-signal.js";
import { waitForRedis } from "../lib/runtime/redis-ready.js";
import {
  claimLauncherSlot,
  findRunningProcesses,
  missingSharedSecrets,
  otherServicesNote,
  signingKeysMismatch,
  type SlotClaim,
  SlotTakenError,
} from "./launch-guard.js";
import { KeyConfigError, type Keyring } from "../lib/security/keyring.js";
import { keyringFromEnv } from "../lib/security/process-keys.js";
import { GATEWAY, SERVICES } from "./catalog.js";
import { busyPorts } from "./port-probe.js";
import {
  assertFreshBuild,
  assertServicesSetUp,
  CompiledBuildError,
  checkLaunchKeys,
  LaunchError,
  launch,
  planProcesses,
  ServiceSetupError,
} from "./launcher.js";
import {
  DevSecretsBusyError,
  DevSecretsKeysFileError,
  DevSecretsMismatchError,
  devSecretsFileOf,
} from "./dev-secrets.js";
import { applyDevSecrets, redisConnectTimeoutMs, SystemRunningError } from "./dev-secrets-start.js";
import {
  AclPasswordsIncompleteError,
  AclUsersInUseError,
  fileUserCredentials,
  provisionLaunchUsers,
} from "./redis-acl.js";
import { checkRedisPassword, REDIS_PASSWORD_CHECK_MS, redisLogin } from "../lib/runtime/redis-password.js";
import { redactRedisUrl } from "../lib/runtime/redis-url.js";
import { type LauncherArgs, LauncherArgsError, launcherUsage, parseLauncherArgs } from "./launcher-args.js";

// Every argument checked before anything is claimed or started (newuser7 F6): one line, exit 2.
let args: LauncherArgs;
try {
  args = parseLauncherArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof LauncherArgsError)) throw error;
  console.error(`start:services: ${error.message}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(launcherUsage());
  process.exit(0);
}
// The keys the children get, and the build --compiled runs, checked before anything is claimed
// (slot, development secrets): a refusal leaves nothing behind (newuser8 M4). One line, exit 2.
try {
  checkLaunchKeys();
  assertServicesSetUp();
  if (args.compiled) assertFreshBuild([GATEWAY.main, ...SERVICES.map((service) => service.main)]);
} catch (error) {
  const line = preStartRefusal(error);
  if (line === undefined) throw error;
  console.error(line);
  process.exit(error instanceof KeyConfigError ? 2 : 1);
}
/** The one line for a start refused by its own configuration, or undefined (a bug: its stack). */
function preStartRefusal(error: unknown): string | undefined {
  if (error instanceof KeyConfigError) return `start:services: ${error.message}`;
  if (error instanceof ServiceSetupError) return `Ordersaga could not start: ${error.message}`;
  if (error instanceof CompiledBuildError) return `--compiled: ${error.message}`;
  return undefined;
}
// Empty counts as unset, as for every process it starts.
let redisUrl = process.env.REDIS_URL || "redis://localhost:6379";
const portBase = args.portBase;
const addInstances = args.addInstances;
const refuse = (reason: string): never => {
  console.error(`\nOrdersaga could not start:\n  ${reason}\n`);
  process.exit(1);
};
// Before Redis is asked anything: a bad REDIS_CONNECT_TIMEOUT_MS is one line, as for the services.
let connectTimeoutMs = 0;
try {
  connectTimeoutMs = redisConnectTimeoutMs();
} catch (error) {
  refuse((error as Error).message);
}
// A password for a Redis that has none (newuser9 F5): refused in production, else one line, and the
// launcher and its processes connect without it (each would otherwise warn, ioredis twice more).
{
  const configured = redisLogin({ ...process.env, REDIS_URL: redisUrl });
  const login = await checkRedisPassword(configured, {
    production: process.env.NODE_ENV === "production",
    warn: (message) => console.error(`start:services: ${message}`),
    timeoutMs: Math.min(connectTimeoutMs, REDIS_PASSWORD_CHECK_MS),
  }).catch((error: unknown) => refuse((error as Error).message));
  if (login !== configured) {
    redisUrl = login.url;
    process.env.REDIS_URL = login.url;
    delete process.env.REDIS_PASSWORD;
  }
}
// Before anything starts: a system already running over this Redis is refused (break10 F1), or
// with --add-instances joined under a launcher slot of its own (no instance id in common).
let slot: SlotClaim | undefined;
// The development secrets' fingerprint, made permanent once the system is up (dev-secrets.ts).
let confirmSecrets = async (): Promise<void> => {};
// Instead, when the start fails after the secrets step: what its processes wrote was written with
// them, so the fingerprint is made permanent all the same (DevSecrets.abandon).
let abandonSecrets = async (): Promise<void> => {};
{
  const guard = new ResendGuardRedis(redisUrl, { maxRetriesPerRequest: 1 });
  guard.on("error", () => {});
  try {
    if (addInstances) {
      await waitForRedis(guard, connectTimeoutMs);
      // The system's processes, apart from services of one's own (newuser17 F2: those are no system
      // to add to, and their keys are not the system's).
      const { system: running, others } = await findRunningProcesses(guard);
      // Nothing to add to: say so first (newuser9 F10: it pointed at the secrets file of a system
      // that never ran there, and started processes that joined nothing).
      if (running.length === 0)
        refuse(
          `--add-instances: no system runs over ${redactRedisUrl(redisUrl)}: start one first (npm run start:services ` +
            "without --add-instances), or check REDIS_URL's host and database" +
            (others.length > 0
              ? ` (only services of your own run there: ${[...new Set(others.map((i) => i.service))].join(", ")})`
              : ""),
        );
      if (others.length > 0) console.log(otherServicesNote(redisUrl, others));
      const missing = missingSharedSecrets(process.env);
      if (missing.length > 0)
        refuse(
          `--add-instances: set ${missing.join(", ")} to the running system's values first (processes ` +
            "with keys of their own could not verify its messages, open its tokens or read its users; " +
            `a system started without them keeps them in ${await devSecretsFileOf(guard, redisUrl)}: ` +
            "`set -a; . <that file>; set +a`)",
        );
      // Keys given but not the running system's (newuser10 F0): refused before anything starts.
      let ring: Keyring | undefined;
      try {
        ring = keyringFromEnv(process.env);
      } catch (error) {
        refuse(`--add-instances: ${(error as Error).message}`);
      }
      // The services it starts: those named by --instances, else all of them.
      const adding = Object.keys(args.instances);
      // Every answering process: the system's signing keys are compared, and a rotation's new key must
      // be held by each consumer of that service's events, services of one's own too.
      const wrongKeys = signingKeysMismatch(
        [...running, ...others],
        ring!,
        adding.length > 0 ? adding : undefined,
      );
      if (wrongKeys) refuse(wrongKeys);
      slot = await claimLauncherSlot(guard, { add: true, wanted: process.env.INSTANCE_SLOT });
    } else {
      // Development secrets kept per Redis (dev-secrets.ts): a restart over the same Redis reuses
      // them (newuser F10), a Redis whose data was written with secrets no file holds is refused
      // (newuser7 F5). The slot first: a second launcher on this host is refused before it touches
      // the fingerprint; a refusal gives it back.
      ({
        slot,
        confirm: confirmSecrets,
        abandon: abandonSecrets,
      } = await applyDevSecrets(guard, redisUrl, {
        timeoutMs: connectTimeoutMs,
        slot: { wanted: process.env.INSTANCE_SLOT },
      }));
    }
  } catch (error) {
    refuse(
      error instanceof SlotTakenError ||
        error instanceof DevSecretsMismatchError ||
        error instanceof DevSecretsBusyError ||
        error instanceof DevSecretsKeysFileError ||
        error instanceof SystemRunningError
        ? error.message
        : `redis: ${startFailureReason(error)}`,
    );
  }
  // Renewed while the launcher runs: the connection stays open, errors are retried by ioredis.
}

// --redis-acl: every process connects as its own ACL user: with REDIS_PASSWORD_<USER> set, the one of
// the ACL file Redis loaded (production: `default` off there); else created here with ACL SETUSER
// (needs ACL rights on REDIS_URL: a private Redis's `default`, left as it is).
let redisUsers: Awaited<ReturnType<typeof provisionLaunchUsers>> | undefined;
// --add-instances --instances order=2: only the services named start (the running system has the
// rest, and its gateway serves), so only their users are needed.
const onlyNamed = addInstances && Object.keys(args.instances).length > 0;
const launchedUsers = onlyNamed
  ? Object.keys(args.instances)
  : [...SERVICES.map((s) => s.name), GATEWAY.name];
if (args.redisAcl) {
  try {
    redisUsers = fileUserCredentials(launchedUsers);
  } catch (error) {
    if (!(error instanceof AclPasswordsIncompleteError)) throw error;
    await abandonSecrets();
    await slot?.release();
    console.error(`--redis-acl: ${error.message}`);
    process.exit(2);
  }
}
if (args.redisAcl && !redisUsers) {
  const admin = new ResendGuardRedis(redisUrl, { maxRetriesPerRequest: 1 });
  // Its commands' failures are reported below; the connection's own error events add nothing.
  admin.on("error", () => {});
  try {
    // Names scoped by database and launcher slot: ACL users are server-wide, and a second system
    // in another database must not reset this one's passwords (newuser8 H1).
    redisUsers = await provisionLaunchUsers(admin, slot?.slot, launchedUsers);
  } catch (error) {
    await abandonSecrets();
    await slot?.release();
    console.error(
      error instanceof AclUsersInUseError
        ? `--redis-acl: ${error.message}`
        : `--redis-acl: could not create the ACL users on ${redactRedisUrl(redisUrl)}: ${(error as Error).message}`,
    );
    process.exit(1);
  } finally {
    admin.disconnect();
  }
}
// From here on the slot is held: every refusal gives it back before exiting.
let system: ReturnType<typeof launch>;
try {
  const specs = planProcesses({
    // Each process logs in as its own user: the URL's credentials (the launcher's, `ops` over a
    // production Redis) are not handed to them (newuser13 F4).
    redisUrl: redisUsers ? withoutCredentials(redisUrl) : redisUrl,
    ...(redisUsers ? { redisUsers } : {}),
    instances: args.instances,
    ...(slot?.prefix === undefined ? {} : { slotPrefix: slot.prefix }),
    // SERVICE_PORT=0 (any free port), as for one service process, applies to every service.
    anyPort: args.anyPort || process.env.SERVICE_PORT === "0",
    ...(portBase === undefined ? {} : { portBase }),
    ...(process.env.GATEWAY_PORT ? { gatewayPort: Number(process.env.GATEWAY_PORT) } : {}),
    ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
  });
  const launched = onlyNamed
    ? specs.filter((spec) => spec.env.SERVICE_NAME !== undefined && spec.env.SERVICE_NAME in args.instances)
    : specs;
  // Every fixed port free before any process starts, as npm start checks its gateway's (newuser11
  // F8: a taken gateway port was found after six services had started and registered).
  const busy = await busyPorts(launched);
  if (busy.length > 0) {
    await abandonSecrets();
    await slot?.release();
    refuse(busy.map((b) => `${b.label}: ${b.reason}`).join("\n  "));
  }
  // --compiled: plain node on the dist/ build (no TypeScript transform at start-up); refused, with
  // what to do, when the build is missing or older than the sources.
  system = launch(launched, undefined, { compiled: args.compiled, respawn: {} });
} catch (error) {
  await abandonSecrets();
  await slot?.release();
  const line = preStartRefusal(error);
  if (line === undefined) throw error;
  console.error(line);
  process.exit(1);
}

let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  console.log("stopping all services...");
  await system.stop();
  // Stopped before it was up (a process failed, Ctrl-C): nothing once confirmed.
  await abandonSecrets();
  await slot?.release();
  process.exit(code);
};
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

try {
  const urls = await system.ready;
  // Up: its data is written with these secrets, so their fingerprint becomes permanent.
  await confirmSecrets();
  const width = Math.max(...[...urls.keys()].map((label) => label.length));
  const auth = process.env.GATEWAY_API_KEYS?.trim() ? ` -H "x-api-key: <one of GATEWAY_API_KEYS>"` : "";
  const lines = [...urls].map(([label, url]) => `  ${label.padEnd(width)}  ${url}`);
  // --add-instances --instances order=1 starts no gateway: the running system's serves (F11).
  const gatewayUrl = urls.get("gateway");
  const tryLine = gatewayUrl
    ? `  try: curl${auth} ${gatewayUrl}/inventory`
    : "  (no gateway started here: use the running system's gateway)";
  console.log(`\nOrdersaga is up over ${redactRedisUrl(redisUrl)}:\n${lines.join("\n")}\n${tryLine}\n`);
  system.onUnexpectedExit((exit) =>
    console.error(`\n!! ${exit.label} stopped: ${exit.reason}; the others keep running, it is restarted\n`),
  );
} catch (error) {
  const exits = error instanceof LaunchError ? error.exits : [];
  console.error(
    `\nOrdersaga could not start:\n${exits.map((e) => `  ${e.label}: ${e.reason}`).join("\n") || String(error)}\n`,
  );
  await shutdown(1);
}

/** `url` without its user name and password. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = "";
  parsed.password = "";
  return parsed.toString();
}
