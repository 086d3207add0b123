/**
 * What keeps a second `npm run start:services` from hijacking a system already running over the same
 * Redis (break10 F1): its processes would take the same instance ids and consumer names as the
 * running ones, overwrite their registry entries and read their consumer groups with other secrets
 * and keys. Before it starts anything the launcher looks for a running system (registry entries of
 * the system's processes, the catalog's services and the gateway, whose instance answers) and
 * refuses; with `--add-instances` it adds processes to it instead, under a launcher slot of its own
 * (an atomic claim in Redis with a lease) so no instance id collides. A service of one's own
 * registered there (README, "Adding a service": examples/loyalty next to a running system) is not a
 * system: its instance ids and consumer groups are its own, so it is named, never refused
 * (newuser17 F2).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import {
  HELD_KEYS_METADATA,
  type Keyring,
  parseHeldKeys,
  SIGNING_KEY_METADATA,
  signingKeyPrint,
} from "../lib/security/keyring.js";
import { SIGNING_KEYS_ENV, SIGNING_KEYS_FILE_ENV } from "../lib/security/process-keys.js";
import { TOKEN_KEYS_ENV, TOKEN_PUBLIC_KEY_ENV } from "../lib/security/payment-token.js";
import { redactRedisUrl } from "../lib/runtime/redis-url.js";
import {
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
} from "../lib/security/user-data.js";
import { GATEWAY, SERVICES } from "./catalog.js";

/** One launcher's slot on one host: `ordersaga:launcher:slot:<host>:<slot>`, value = the holder's token. */
export const launcherSlotKey = (host: string, slot: string): string =>
  `ordersaga:launcher:slot:${host}:${slot}`;

/** How long a slot claim lives without renewal; the holder renews it every third of that. */
export const LAUNCHER_SLOT_LEASE_MS = 15_000;

/** The slot of a launcher that adds no instances (INSTANCE_SLOT 1, 2, ... of its processes, as before). */
export const DEFAULT_SLOT = "main";

export interface RunningInstance {
  service: string;
  instanceId: string;
  url: string;
  /** The print of the key it signs with (`<kid>:<print>`, signingKeyPrint), if it advertises one. */
  signingKey?: string;
  /** Every key it holds (heldKeysPrint: `<service>:<kid>:<print>,...`), if it advertises them. */
  heldKeys?: string;
}

/** The services a launcher starts (the catalog's and the gateway): the only ones that make a system. */
const SYSTEM_PROCESSES: ReadonlySet<string> = new Set([...SERVICES.map((s) => s.name), GATEWAY.name]);

/** Whether `service` is one of the system's processes (a launcher starts it), not a service of one's own. */
export const isSystemProcess = (service: string): boolean => SYSTEM_PROCESSES.has(service);

export interface RunningProcesses {
  /** The running system's instances (isSystemProcess): what a launch over this Redis would collide with. */
  system: RunningInstance[];
  /** Every other service's: services of one's own (README step 4), which a launch leaves be. */
  others: RunningInstance[];
}

/**
 * The running system's instances over this Redis (findRunningProcesses' `system`): none where only
 * services of one's own run (newuser17 F2: they made the launcher refuse).
 */
export async function findRunningInstances(redis: Redis, probeTimeoutMs = 2_000): Promise<RunningInstance[]> {
  return (await findRunningProcesses(redis, probeTimeoutMs)).system;
}

/**
 * The instances registered in this Redis whose process answers, the system's apart from the
 * others: a service's `/health/live`, the gateway's `/health` (open without an API key; it has no
 * `/health/live`, so it was never found: newuser F9), 200 or 503 (up but degraded). Entries of a
 * system that died are not (they expire).
 */
export async function findRunningProcesses(redis: Redis, probeTimeoutMs = 2_000): Promise<RunningProcesses> {
  const instances = await new RedisServiceRegistry({ redis }).list();
  const answering = await Promise.all(
    instances.map(async (instance) => {
      const host = instance.address.includes(":") ? `[${instance.address}]` : instance.address;
      const url = `http://${host}:${instance.port}`;
      const path = instance.service === GATEWAY.name ? "/health" : "/health/live";
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(probeTimeoutMs) }).catch(
        () => undefined,
      );
      const up = res !== undefined && (res.ok || (instance.service === GATEWAY.name && res.status === 503));
      await res?.body?.cancel();
      if (!up) return undefined;
      const signingKey = instance.metadata?.[SIGNING_KEY_METADATA];
      const heldKeys = instance.metadata?.[HELD_KEYS_METADATA];
      return {
        service: instance.service,
        instanceId: instance.instanceId,
        url,
        ...(signingKey ? { signingKey } : {}),
        ...(heldKeys ? { heldKeys } : {}),
      };
    }),
  );
  const up = answering.filter((i): i is RunningInstance => i !== undefined);
  return {
    system: up.filter((i) => isSystemProcess(i.service)),
    others: up.filter((i) => !isSystemProcess(i.service)),
  };
}

const instanceLine = (i: RunningInstance): string =>
  `    ${i.service.padEnd(12)} ${i.instanceId.padEnd(28)} ${i.url}`;

/**
 * The line a launch prints when services of one's own answer over its Redis: named, not refused
 * (not part of the system; their ids and groups are their own).
 */
export function otherServicesNote(redisUrl: string, others: readonly RunningInstance[]): string {
  return [
    `services of your own running over ${redactRedisUrl(redisUrl)} (not part of the system, left as they are):`,
    ...others.map(instanceLine),
  ].join("\n");
}

/** The refusal a person reads when a system already runs over this Redis. */
export function runningSystemMessage(redisUrl: string, running: readonly RunningInstance[]): string {
  const lines = running.map(instanceLine);
  const gateway = running.find((i) => i.service === GATEWAY.name);
  return [
    `an Ordersaga system is already running over ${redactRedisUrl(redisUrl)}:`,
    ...lines,
    "  A second launch over the same Redis would take its instance ids and consumer groups. Either:",
    // Without a gateway there is nothing to use (newuser16 F3: processes added with --add-instances
    // outlive the launcher that started the system, and Ctrl-C there does not stop them).
    gateway
      ? `  - use it (gateway ${gateway.url}), e.g. npm run demo with the same REDIS_URL;`
      : "  - it has no gateway to use: processes added with --add-instances outlive the launch that started\n" +
        "    the system; stop them (Ctrl-C in the terminal that added them);",
    "  - stop it (Ctrl-C in its terminal) and start again;",
    "  - start a separate system in another Redis database: REDIS_URL=redis://<host>:<port>/1 (or another",
    "    redis-server), with --any-port or --port-base so the ports differ;",
    "  - add instances to it: npm run start:services -- --add-instances --any-port --instances <svc>=<n>",
    "    (needs the running system's secrets and keys in the environment: see README, Troubleshooting).",
  ].join("\n");
}

/**
 * The secrets a launcher makes up for itself when none are configured (development): processes
 * added to a running system with other ones could not verify its messages, open its tokens or read
 * its users (break10 F3), so `--add-instances` needs them all given. Returns the missing names.
 */
export function missingSharedSecrets(env: NodeJS.ProcessEnv): string[] {
  const set = (name: string) => Boolean(env[name]?.trim());
  const missing: string[] = [];
  if (!set("GATEWAY_SHARED_SECRET")) missing.push("GATEWAY_SHARED_SECRET");
  if (!set(SIGNING_KEYS_ENV) && !set(SIGNING_KEYS_FILE_ENV)) missing.push(SIGNING_KEYS_ENV);
  if (!set(TOKEN_KEYS_ENV)) missing.push(TOKEN_KEYS_ENV);
  if (!set(TOKEN_PUBLIC_KEY_ENV)) missing.push(TOKEN_PUBLIC_KEY_ENV);
  if (!set(USER_DATA_KEYS_ENV) && !set(USER_DATA_KEYS_FILE_ENV)) missing.push(USER_DATA_KEYS_ENV);
  if (!set(USER_EMAIL_INDEX_KEY_ENV)) missing.push(USER_EMAIL_INDEX_KEY_ENV);
  return missing;
}

/**
 * Why `ring` (the keys `--add-instances` would hand its processes) is not the running system's, or
 * undefined. Two ways the added processes' messages or the running ones' would be dead-lettered as
 * SIGNATURE_INVALID (orders failed, compensations parked), each refused in one line:
 * - a running instance of the system (isSystemProcess) advertising the key it signs with
 *   (`signingKey`) must find that key, same id and print, in the ring (its current key or one kept
 *   for verifying): else the added processes cannot verify its messages (newuser10 F0). A service
 *   of one's own signs with a key of its own, which the system's processes never need (they consume
 *   none of its events): not compared (newuser17 F2);
 * - the key each added service (`services`, default every service of the ring) would sign with, its
 *   current key in the ring, must be held by every running instance that holds a key of that
 *   service (`heldKeys`: it verifies that service's events), a service of one's own too (it would
 *   dead-letter them as well): a rotation's new key moved first
 *   before every consumer was given it (step 2 before step 1 of docs/security.md) was accepted and
 *   5 of 6 orders failed (newuser14 F2). Instances that advertise no `heldKeys` (an older release)
 *   cannot be checked so, and are not.
 */
export function signingKeysMismatch(
  running: readonly RunningInstance[],
  ring: Keyring,
  services: readonly string[] = ring.services(),
): string | undefined {
  return unknownRunningKey(running, ring) ?? unheldNewKey(running, ring, services);
}

/** The first added service whose current key a running consumer of its events does not hold, said. */
function unheldNewKey(
  running: readonly RunningInstance[],
  ring: Keyring,
  services: readonly string[],
): string | undefined {
  for (const service of services) {
    const key = ring.current(service);
    if (!key) continue;
    const print = signingKeyPrint(key);
    for (const instance of running) {
      if (!instance.heldKeys) continue;
      const held = parseHeldKeys(instance.heldKeys).filter((k) => k.service === service);
      if (held.length === 0 || held.some((k) => k.print === print)) continue;
      const kids = held.map((k) => `"${k.print.split(":")[0]}"`).join(", ");
      return (
        `--add-instances: ${service} would sign with key id "${key.kid}", which the running ` +
        `${instance.service} (${instance.instanceId}) does not hold (of ${service}'s keys it holds ${kids}): ` +
        "messages signed with it would be dead-lettered SIGNATURE_INVALID (unknown key id). Rotate in two " +
        "steps (docs/security.md, Key management and rotation): first give every running process the new " +
        "key after the current one, then move it first"
      );
    }
  }
  return undefined;
}

/** The first running instance of the system whose signing key `ring` does not hold (same id and print), said. */
function unknownRunningKey(running: readonly RunningInstance[], ring: Keyring): string | undefined {
  for (const instance of running) {
    if (!instance.signingKey || !isSystemProcess(instance.service)) continue;
    const kid = instance.signingKey.split(":")[0];
    // The running instance's key, held under its id, current or not: during a rotation (docs/security.md,
    // "Key management and rotation") added instances sign with the new current key while the running
    // ones still sign with the old key, which the new list keeps for verifying (break18 F2).
    const held = ring.byKid(kid!);
    if (held && held.service === instance.service && signingKeyPrint(held) === instance.signingKey) continue;
    const key = ring.current(instance.service);
    const mine = key ? signingKeyPrint(key) : undefined;
    return (
      `--add-instances: these signing keys are not the running system's: ${instance.service} ` +
      `(${instance.instanceId}) signs with key id "${kid}", ` +
      (mine === undefined
        ? "for which they hold no key"
        : ring.byKid(kid!)
          ? "which they hold with another secret"
          : `they with "${mine.split(":")[0]}"`) +
      ": set BUS_SIGNING_KEYS or BUS_SIGNING_KEYS_FILE as the running system's launcher had them " +
      "(its development-secrets file records them)"
    );
  }
  return undefined;
}

export interface SlotClaim {
  /** The slot's name: DEFAULT_SLOT, the one asked for, or `add<n>` for added instances. */
  slot: string;
  /** The INSTANCE_SLOT prefix for the launcher's processes (undefined: their index alone). */
  prefix: string | undefined;
  /** Gives the slot back (only if still held by this claim). */
  release(): Promise<void>;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class SlotTakenError extends Error {
  constructor(readonly slot: string) {
    super(
      `another launcher on ${hostname()} holds slot "${slot}" over this Redis (it is starting, or stopped ` +
        `less than ${LAUNCHER_SLOT_LEASE_MS / 1000} s ago): wait and retry, or use another Redis database`,
    );
    this.name = "SlotTakenError";
  }
}

/**
 * Claims this launcher's slot atomically (SET NX with a lease, renewed while the launcher runs):
 * `wanted` (a given INSTANCE_SLOT, else DEFAULT_SLOT), or with `add` the first free `add<n>`, whose
 * processes are then `INSTANCE_SLOT=add<n>.<i>`: never the running system's ids.
 */
export async function claimLauncherSlot(
  redis: Redis,
  options: { add: boolean; wanted?: string | undefined; host?: string; leaseMs?: number },
): Promise<SlotClaim> {
  const host = options.host ?? hostname();
  const leaseMs = options.leaseMs ?? LAUNCHER_SLOT_LEASE_MS;
  const token = `${process.pid}:${randomBytes(8).toString("hex")}`;
  const take = async (slot: string) =>
    (await redis.set(launcherSlotKey(host, slot), token, "PX", leaseMs, "NX")) === "OK";
  let slot: string | undefined;
  let prefix: string | undefined;
  if (options.add) {
    for (let n = 1; n <= 1_000 && slot === undefined; n++) {
      const candidate = options.wanted === undefined ? `add${n}` : `${options.wanted}.add${n}`;
      if (await take(candidate)) [slot, prefix] = [candidate, candidate];
    }
    if (slot === undefined) throw new SlotTakenError("add*");
  } else {
    slot = options.wanted ?? DEFAULT_SLOT;
    prefix = options.wanted;
    if (!(await take(slot))) throw new SlotTakenError(slot);
  }
  const key = launcherSlotKey(host, slot);
  const timer = setInterval(
    () => void redis.eval(RENEW, 1, key, token, leaseMs).catch(() => undefined),
    Math.max(1, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    slot,
    prefix,
    release: async () => {
      clearInterval(timer);
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    },
  };
}
