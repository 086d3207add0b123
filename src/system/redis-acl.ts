/**
 * Least privilege in Redis (issue 12 item 3): one ACL user per service, one for the gateway, one
 * for operators' tools. Rendered from the same sources as the keys themselves (the key functions of
 * src/system/key-families.ts's owners and each service's subscriptions), so the rules cannot drift
 * from the code: `npx tsx scripts/redis-acl.ts --write` regenerates ops/redis/users.acl (a test keeps
 * it equal), the launcher and the test harness apply them with `ACL SETUSER`.
 *
 * A service user may:
 * - run only the commands its code uses (`serviceCommands`: SERVICE_BASE, what the shared libraries
 *   run for every service, plus SERVICE_COMMANDS[service], what its own stores run; no
 *   keyspace-wide, admin or dangerous command: no KEYS, SCAN, FLUSH*, CONFIG, DEBUG, MIGRATE, ACL,
 *   SHUTDOWN...) on its own hash-tagged keys `{<service>}:*`;
 * - register itself in discovery (`{discovery}:inst:<service>:*`, `{discovery}:svc:<service>`,
 *   `{discovery}:services`);
 * - consume the streams of the events it subscribes to, through a selector allowing only the
 *   consumer-group commands (XREADGROUP, XACK, XCLAIM, XAUTOCLAIM, XPENDING, XINFO, XGROUP
 *   CREATE/CREATECONSUMER/DELCONSUMER/SETID and the bus's scripts) on those keys: Redis classes XREADGROUP,
 *   XACK and XGROUP as writes, so plain read access (`%R~`) would not do, and the selector keeps XADD,
 *   DEL and XTRIM off another service's stream (no forged or deleted events);
 * - keep its failed-attempt lists and deferral counters on those streams
 *   (`{<owner>}:ev:<event>:fail:<service>:*`, `...:defer:<service>:*`, `...:solo:<service>:*`,
 *   `...:undone:<service>:*`, `...:runs:<service>:*`, `...:hung:<service>:*`),
 *   and its group's read-to mark (`...:readto:<service>`);
 * - add dead letters of its own group through a selector allowing the DLQ store's writes on
 *   `{dlq}:rec:<group>|*` (and the shared index and trail), but not read them (HGETALL, ZRANGE...:
 *   other services' failed messages are the gateway's business);
 * - publish and hear hints on the Pub/Sub channels `ps:*` (heartbeats, metrics: nothing secret).
 * The gateway reads and writes discovery and the DLQ, and appends to each group's redeliver stream
 * (exact keys per group, `gatewayAclUser`: no glob over the hash tag).
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { AllEvents } from "../contracts/index.js";
import {
  eventStreamKey,
  readToKey,
  redeliverStreamKey,
  replaysKey,
} from "../lib/bus/transports/redis-stream-keys.js";
import { createMemoryPlatform } from "../lib/runtime/platform.js";
import { Keyring } from "../lib/security/keyring.js";
import { type ServiceDeps, startService } from "../lib/runtime/service-host.js";
import { createLogger } from "../lib/observability/logger.js";
import { SERVICES } from "./catalog.js";

/** Connection housekeeping every client needs (ioredis' ready check runs INFO). */
export const CONNECTION = [
  "ping",
  "echo",
  "select",
  "info",
  "hello",
  "client|setname",
  "client|getname",
  "client|id",
];
const SCRIPTING = ["eval", "evalsha", "script|load", "script|exists"];
const TRANSACTIONS = ["multi", "exec", "discard", "watch", "unwatch"];
const PUBSUB = ["publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe"];
const STREAM_GROUP = [
  "xreadgroup",
  "xack",
  "xclaim",
  "xautoclaim",
  "xpending",
  "xinfo|groups",
  "xinfo|consumers",
  "xinfo|stream",
  "xgroup|create",
  "xgroup|createconsumer",
  "xgroup|delconsumer",
  "xgroup|setid",
];

/**
 * Every data command the stores, the bus, discovery and the DLQ use (by type): the universe the
 * users' lists are drawn from (the ACL tests try each one a user does not have and expect NOPERM).
 */
export const DATA_COMMANDS: readonly string[] = [
  ...CONNECTION,
  ...SCRIPTING,
  ...TRANSACTIONS,
  ...PUBSUB,
  // strings and generic
  ...["get", "set", "setnx", "mget", "del", "unlink", "exists", "incr", "incrby", "decr", "decrby"],
  ...["expire", "pexpire", "ttl", "pttl", "persist", "time"],
  // hashes
  ...[
    "hset",
    "hsetnx",
    "hget",
    "hmget",
    "hgetall",
    "hdel",
    "hincrby",
    "hexists",
    "hlen",
    "hkeys",
    "hvals",
    "hscan",
  ],
  // sets
  ...["sadd", "srem", "smembers", "sismember", "smismember", "scard", "sscan"],
  // sorted sets
  ...["zadd", "zrem", "zscore", "zmscore", "zcard", "zcount", "zrange", "zrangebyscore", "zrevrange"],
  ...["zrevrangebyscore", "zrangebylex", "zrevrangebylex", "zremrangebyscore", "zrank", "zscan"],
  // lists
  ...["rpush", "lpush", "lrange", "llen", "lindex", "lpop", "rpop", "ltrim"],
  // streams
  ...["xadd", "xrange", "xrevrange", "xlen", "xtrim", "xdel", ...STREAM_GROUP],
];

/**
 * What the gateway's code runs (src/system/redis-acl-commands.test.ts reads its sources and checks
 * this list both ways: every command named is here, every command here is named), on
 * `{discovery}:*`, `{dlq}:*` and groups' redeliver streams and replay sets:
 * - discovery (src/lib/discovery/redis-registry.ts and scripts.ts): its own registration and
 *   heartbeats, the instance list, health marks, deregistration;
 * - the DLQ (src/lib/dlq/redis-dead-letter-store.ts): list, page, read, status changes (the
 *   retry's compare-and-set reads the count with HGET, and claims a purged record's replay once
 *   with EXISTS, HSET and PEXPIRE), removal,
 *   and the audit trail (its append script reads TIME: the trail is on Redis's clock);
 * - redelivery to a group (RedisStreamsTransport `redeliver`/`redeliverOnce`): XADD, and the
 *   REDELIVER_ONCE script's TIME, ZREMRANGEBYSCORE, ZSCORE, ZADD, PEXPIRE;
 * - hints (heartbeat/breaker events) are published, never subscribed to; TIME for the shared clock;
 * - Redis's memory (src/gateway/redis-memory.ts): `INFO memory` every 15 s, with CONNECTION's INFO
 *   (no CONFIG, no MEMORY: maxmemory is read from INFO too).
 * No consumer-group command, no plain GET/SET, no other key type's commands: the gateway reads no
 * event stream and holds no state of its own in Redis (idempotency and rate limits are in memory).
 */
export const GATEWAY_COMMANDS: readonly string[] = [
  ...CONNECTION,
  ...["eval", "evalsha", "script|load"],
  "multi",
  "exec",
  "publish",
  "time",
  ...["del", "exists", "pexpire"],
  ...["hset", "hget", "hgetall", "sadd", "srem", "scard", "smembers"],
  ...["zadd", "zrem", "zscore", "zrangebyscore", "zrevrange", "zrevrangebyscore", "zremrangebyscore"],
  ...["rpush", "lrange", "llen", "lindex", "lpop"],
  ...["xadd", "xrange", "xtrim"],
];

/**
 * What every service runs through the shared libraries, on its own keys: connection housekeeping,
 * scripts and transactions, Pub/Sub hints (heartbeats, metrics); the bus (outbox XADD, consumer
 * groups, idempotency marks GET/SET/DEL/EXISTS/PEXPIRE, failed-attempt lists RPUSH/LRANGE/LLEN
 * and LINDEX (the first record keeps the entry's first delivery time) and LSET/LREM (a full list
 * drops its oldest record after the first ones kept: bounded, break20 F9),
 * deferral counters INCR, trimming XTRIM/TIME, the stream registry ZADD/ZSCORE/ZREMRANGEBYSCORE);
 * its discovery registration (HSET, HGETALL, SADD, SREM, SCARD, SMEMBERS).
 */
export const SERVICE_BASE: readonly string[] = [
  ...CONNECTION,
  ...SCRIPTING,
  ...TRANSACTIONS,
  ...PUBSUB,
  ...["get", "set", "del", "exists", "incr", "pexpire", "time"],
  ...["hset", "hget", "hgetall", "sadd", "srem", "scard", "smembers"],
  ...["zadd", "zscore", "zremrangebyscore", "rpush", "lrange", "llen", "lindex", "lset", "lrem"],
  ...["xadd", "xtrim"],
  ...STREAM_GROUP,
];

/**
 * What each service's own code adds to SERVICE_BASE (its stores' calls and Lua scripts: see each
 * `src/services/<name>/redis-store.ts` and the libraries it alone uses). A command missing here
 * fails only at run time (NOPERM): `src/system/multiprocess.test.ts` runs the whole system with
 * these users and expects an empty `ACL LOG`.
 */
export const SERVICE_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  // hmget: DELETE reads version, claim and data in one call; it opens no field (break35 F4).
  user: ["hget", "hmget"],
  // The event store and read models (src/lib/eventstore), order lists, views and their retention
  // sweep, the deadline index, the payment token keys it writes and shreds, and the AOF rewrite and
  // the SLOWLOG check (and reset when it holds a token key's write) it runs after shredding them
  // (src/lib/security/aof-compactor.ts).
  order: [
    ...["bgrewriteaof", "slowlog|get", "slowlog|reset"],
    ...["hget", "hmget", "hdel", "hsetnx", "hscan", "unlink", "incrby", "xrange", "xrevrange"],
    ...["zmscore", "zrange", "zrangebyscore", "zrevrangebylex", "zrem"],
  ],
  inventory: ["hget", "hmget", "hincrby", "sscan", "unlink", "zrangebylex"],
  // Its records and the simulated provider's ledger (ZRANGEBYSCORE: the orphan pass scans it by
  // creation time, orphan-charges.ts).
  payment: ["hget", "mget", "sscan", "zrange", "zrangebyscore"],
  // Its records, the due index and its failure counts (a failed delivery moved back, the sweep of
  // orphaned ones), the parked shipments, the key-type checks of its scripts, and the simulated
  // carrier's ledger (carrier-redis-ledger.ts; ZRANGEBYSCORE also: the orphan-booking pass scans it
  // by creation time, MGET: its shared position, orphan-bookings.ts). HINCRBY: the previous
  // release's move of a failed delivery, which still runs during a rolling deploy.
  shipping: [
    ...["hdel", "hexists", "hget", "hincrby", "hlen", "hmget", "hscan", "mget", "type"],
    ...["zrangebyscore", "zrem"],
  ],
  notification: ["hget", "hmget", "mget", "zrangebyscore", "zrem", "zrevrange", "zrevrangebyscore"],
};

/** A service's command list: SERVICE_BASE and its own (no duplicates, sorted for a stable file). */
export function serviceCommands(service: string): string[] {
  const own = SERVICE_COMMANDS[service];
  if (!own)
    throw new Error(
      `no Redis command list for service "${service}": add \`${service}: [<the Redis commands its own stores ` +
        "run, beyond SERVICE_BASE>]` to SERVICE_COMMANDS in src/system/redis-acl.ts, then run " +
        "`npx tsx scripts/redis-acl.ts --write` again",
    );
  return [...new Set([...SERVICE_BASE, ...own])];
}

/** What a dead-lettering consumer runs on `{dlq}:*`: the store's add and audit scripts. */
const DLQ_WRITE = [
  ...SCRIPTING,
  ...["exists", "hset", "zadd", "xadd", "xtrim", "rpush", "llen", "lindex", "lpop", "pexpire", "time"],
];

/**
 * The `{dlq}:*` keys a group's consumers write when they dead-letter: the records and per-record
 * trails of their own group, the shared time index and audit trail (src/lib/dlq/keys.ts).
 */
const deadLetterPatterns = (group: string) => [
  `~{dlq}:rec:${group}|*`,
  `~{dlq}:audit:${group}|*`,
  "~{dlq}:idx",
  "~{dlq}:audit",
];

/** The bus's consumer-side commands on the streams a group reads (and its scripts' reads). */
const CONSUMER = [...SCRIPTING, ...STREAM_GROUP, "exists", "info"];

export interface AclUser {
  name: string;
  /** What the user is for (a comment line in the ACL file). */
  purpose: string;
  /** ACL rules after `on`/password, in `ACL SETUSER` syntax (selectors in parentheses). */
  rules: string[];
}

const allow = (commands: readonly string[]) => ["-@all", ...commands.map((c) => `+${c}`)];
const selector = (parts: readonly string[]) => `(${parts.join(" ")})`;

/** The events each service subscribes to (owner and name), read from its subscribers. */
export async function consumedTopics(): Promise<Map<string, { owner: string; topic: string }[]>> {
  const out = new Map<string, { owner: string; topic: string }[]>();
  const platform = createMemoryPlatform();
  const logger = createLogger({ service: "acl", level: "silent" });
  // Throwaway signing keys: only the subscriptions are read, nothing is signed or verified. The
  // process's own keyring would need BUS_SIGNING_KEYS under NODE_ENV=production, which compose's
  // one-shot `redis-acl` (image NODE_ENV=production, .env with per-service keys) does not have, so
  // it exited 1 and no Redis nor service ever started (newuser13 F1).
  const keyring = new Keyring([], true);
  try {
    for (const { definition } of SERVICES) {
      let topics: { owner: string; topic: string }[] = [];
      // Only `create` runs (no server, no subscription): the subscribers say what they consume.
      const host = startService(
        {
          ...definition,
          create: async (deps: ServiceDeps<never>) => {
            const parts = await definition.create(deps as never);
            topics = (parts.subscribers ?? []).flatMap((s) => s.topics());
            throw new TopicsRead();
          },
        },
        { events: AllEvents, platform, port: 0, logger, keyring },
      );
      await host.then(
        () => {},
        (error: unknown) => {
          if (!(error instanceof TopicsRead)) throw error;
        },
      );
      out.set(definition.name, topics);
    }
  } finally {
    await platform.close();
  }
  return out;
}

class TopicsRead extends Error {}

/**
 * Keys a service writes in another's hash slot, by design: the order service stores the sealed
 * payment token's key entry where only payment reads it, and deletes it at the saga's end
 * (crypto-shredding, docs/security.md).
 */
const CROSS_SLOT_WRITES: Record<string, readonly string[]> = {
  order: ["{payment}:tokenkey:*"],
};

/** A name that goes into a key pattern: no glob character, space or brace (it would widen the pattern). */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A Redis command or `command|subcommand`, lower case: no `+@all`, `allkeys` or other rule. */
const PLAIN_COMMAND = /^[a-z][a-z0-9-]*(\|[a-z0-9-]+)?$/;

export interface ServiceAclOptions {
  /** The service's name: its hash tag `{<name>}`, consumer group and discovery name. */
  name: string;
  /** The events it subscribes to, each with its owner (`subscriber.topics()`). */
  consumes: readonly { owner: string; topic: string }[];
  /** The Redis commands its own code runs beyond SERVICE_BASE (e.g. `["incrby"]`), lower case. */
  commands?: readonly string[];
  /** Key patterns it writes outside its own slot, by design (none for most services). */
  keys?: readonly string[];
}

/**
 * A service's ACL user, as `aclUsers()` renders the built-in ones: SERVICE_BASE plus `commands` on
 * its own keys `{<name>}:*` (and `keys`), its discovery registration, a consumer-group selector on the
 * streams of the events it consumes (and its redeliver stream), its failed-attempt lists and read-to
 * marks there, and a selector adding dead letters of its own group. For a service built outside
 * this repository (README "Use the bus library on its own"): `aclFileLine(user, sha256)` is its line
 * in Redis's ACL file, `setUserArgs(user, password)` its `ACL SETUSER` arguments. Throws on a name,
 * event or command that is not plain (a glob character would widen the user's keys).
 */
export function serviceAclUser(options: ServiceAclOptions): AclUser {
  const { name, consumes } = options;
  if (!PLAIN_NAME.test(name)) throw new Error(`service name "${name}" is not plain (letters, digits, . _ -)`);
  for (const { owner, topic } of consumes) {
    if (!PLAIN_NAME.test(owner) || !PLAIN_NAME.test(topic))
      throw new Error(`event "${owner}" / "${topic}" is not a plain owner and event name`);
  }
  const own = options.commands ?? [];
  const bad = own.filter((command) => !PLAIN_COMMAND.test(command));
  if (bad.length > 0)
    throw new Error(`not a Redis command (lower case, "cmd" or "cmd|sub"): ${bad.join(", ")}`);
  const streams = [...new Set(consumes.map((t) => eventStreamKey(t.owner, t.topic)))].sort();
  const attempts = streams.flatMap((key) => [
    `~${key}:fail:${name}:*`,
    `~${key}:defer:${name}:*`,
    `~${key}:solo:${name}:*`,
    `~${key}:undone:${name}:*`,
    `~${key}:runs:${name}:*`,
    `~${key}:hung:${name}:*`,
    `~${readToKey(key, name)}`,
  ]);
  return {
    name,
    purpose: `the ${name} service: its own keys, its registration, its consumer groups, dead letters`,
    rules: [
      "resetchannels",
      "&ps:*",
      ...allow([...new Set([...SERVICE_BASE, ...own])]),
      `~{${name}}:*`,
      `~{discovery}:inst:${name}:*`,
      `~{discovery}:svc:${name}`,
      "~{discovery}:services",
      ...(options.keys ?? []).map((pattern) => `~${pattern}`),
      ...attempts,
      // One XREADGROUP reads every stream of the group and its redeliver stream at once: one selector.
      selector([
        ...streams.map((k) => `~${k}`),
        `~${redeliverStreamKey(name)}`,
        ...attempts,
        ...allow(CONSUMER),
      ]),
      // Dead letters of its own group only (record ids are `<group>|<topic>|<entry>`), plus the
      // shared index and trail: it cannot overwrite another group's records (break-12 F5).
      selector([...deadLetterPatterns(name), ...allow(DLQ_WRITE)]),
    ],
  };
}

/**
 * The gateway's user: GATEWAY_COMMANDS on discovery, the DLQ, and the redeliver stream and replay
 * set of each consumer group in `groups`, by exact key (`redeliverStreamKey`, `replaysKey`). Never a
 * glob over the hash tag: `~{*}:redeliver` also matched `{inventory}:product:<id>}:redeliver` and
 * any other service key whose free-text id ends so (a glob `*` matches `}` and `:`; break44 F2).
 * `aclUsers()` passes the system's services (`SERVICES`: each is one consumer group); a service of
 * one's own kept outside this repository adds its group here for the gateway's DLQ retry to reach it
 * (README "A service of your own in production"). Throws on a group name that is not plain.
 */
export function gatewayAclUser(groups: readonly string[]): AclUser {
  const bad = groups.filter((group) => !PLAIN_NAME.test(group));
  if (bad.length > 0)
    throw new Error(
      `group name ${bad.map((g) => `"${g}"`).join(", ")} is not plain (letters, digits, . _ -)`,
    );
  return {
    name: "gateway",
    purpose: "the gateway: discovery (list, health, deregister), the DLQ, redelivery to a group",
    rules: [
      "resetchannels",
      "&ps:*",
      ...allow(GATEWAY_COMMANDS),
      "~{discovery}:*",
      "~{dlq}:*",
      // Each group's redeliver stream and the replays a DLQ retry sent to it (sent once), written
      // with the redeliver entry: exact keys, one pair per group.
      ...[...new Set(groups)].flatMap((group) => [`~${redeliverStreamKey(group)}`, `~${replaysKey(group)}`]),
    ],
  };
}

/** The users and their rules, in a stable order: the services, the gateway, the tools. */
export async function aclUsers(): Promise<AclUser[]> {
  const consumed = await consumedTopics();
  const users: AclUser[] = [];
  for (const { name } of SERVICES) {
    users.push(
      serviceAclUser({
        name,
        consumes: consumed.get(name) ?? [],
        commands: serviceCommands(name),
        keys: CROSS_SLOT_WRITES[name] ?? [],
      }),
    );
  }
  users.push(gatewayAclUser(SERVICES.map((s) => s.name)));
  users.push({
    name: "healthcheck",
    purpose: "the container health check: PING only",
    rules: ["resetchannels", "-@all", "+ping", "+hello"],
  });
  users.push(OBSERVER);
  users.push({
    name: "ops",
    purpose:
      "operators and the tools that write or flush a private Redis (demo, chaos's faults, bench): everything; never give it to a service",
    rules: ["allchannels", "allkeys", "+@all"],
  });
  return users;
}

/**
 * The tools that only read (the soak's sampler and the key scan, `src/system/key-scan.ts`): every
 * key read-only (`%R~*`), the read commands plus the scan they walk the keyspace with (SCAN,
 * TYPE, MEMORY USAGE, XINFO, XPENDING) and INFO; no write, no script, no KEYS, no admin command.
 */
export const OBSERVER: AclUser = {
  name: "observer",
  purpose: "read-only tools (soak sampler, key scan): read every key, write none",
  // MULTI/EXEC: the key scan reads related keys in one transaction (reads only: %R~* refuses writes).
  rules: [
    "resetchannels",
    "-@all",
    "+@read",
    "-keys",
    "+multi",
    "+exec",
    ...CONNECTION.map((c) => `+${c}`),
    "%R~*",
  ],
};

/** `ACL SETUSER` arguments for a user with a password (clear; Redis stores its SHA-256). */
export function setUserArgs(user: AclUser, password: string): string[] {
  return [user.name, "reset", "on", `>${password}`, ...user.rules];
}

/**
 * One ACL file line. Without `passwordSha256` the user is `off` (the committed file: no one
 * can log in until redis-acl-file.js writes it with a password).
 */
export function aclFileLine(user: AclUser, passwordSha256?: string): string {
  const state = passwordSha256 === undefined ? ["off"] : ["on", `#${passwordSha256}`];
  return ["user", user.name, ...state, ...user.rules].join(" ");
}

/**
 * The `default` user's line. `off` is what refuses anonymous access: no connection can log in as
 * `default` (an unauthenticated command gets NOAUTH, `AUTH default ...` is refused), whatever its
 * rules. Its rules must still allow everything: Redis 7 replays the AOF at start as `default` and
 * re-checks ACL at each EXEC, so with `-@all` it dropped every MULTI/EXEC and every script with two
 * or more writes (logged as MULTI/EXEC) from the AOF on restart, keeping single writes: acknowledged
 * data lost, half-written records (newuser15 F1; redis/redis#14541, fixed in 8.4 only; 7.2.5 panics
 * at load instead, redis/redis#14156). Checked against a real restart in
 * redis-acl-aof-restart.redis.test.ts.
 */
export const DEFAULT_USER_LINE = "user default off resetchannels ~* &* +@all";

/**
 * The ACL file: `default` off (no anonymous access; DEFAULT_USER_LINE), then every user. `comments`: a header and each
 * user's purpose, for the committed ops/redis/users.acl that people read; Redis refuses to load a
 * file with any line not starting with `user` (newuser13 F4: the file redis-acl-file.js wrote,
 * with comments, aborted Redis's start), so the file written for Redis has none.
 */
export function renderAclFile(
  users: readonly AclUser[],
  passwordSha256Of: (user: string) => string | undefined,
  { comments = true }: { comments?: boolean } = {},
): string {
  const lines = [
    ...(comments
      ? [
          "# Generated by `npx tsx scripts/redis-acl.ts --write` from src/system/redis-acl.ts: do not edit.",
          "# Redis does not load this commented copy; `node dist/system/redis-acl-file.js <out>` writes the",
          "# file Redis loads, without comments, each user `on` with the hash of REDIS_PASSWORD_<USER> (see docs/security.md).",
        ]
      : []),
    DEFAULT_USER_LINE,
  ];
  for (const user of users) {
    if (comments) lines.push(`# ${user.purpose}`);
    lines.push(aclFileLine(user, passwordSha256Of(user.name)));
  }
  return `${lines.join("\n")}\n`;
}

/** The environment variable holding a user's password in production: REDIS_PASSWORD_<USER>. */
export const passwordVariable = (user: string) => `REDIS_PASSWORD_${user.toUpperCase()}`;

export interface RedisCredentials {
  username: string;
  password: string;
}

/**
 * The name a launch's user gets on a shared redis-server. ACL users are server-wide, not per
 * database: two systems in two databases of one server (README Troubleshooting) with the same user
 * names reset each other's passwords (newuser8 H1). So the name carries the database when it is not
 * 0 and the launcher slot when it is not the main one: `order` (db 0), `order-db2`,
 * `order-db2-add1` (an `--add-instances` launch, slot `add1`).
 */
export function scopedUserName(user: string, scope: { database: number; slot?: string | undefined }): string {
  const db = scope.database === 0 ? "" : `-db${scope.database}`;
  const slot = scope.slot === undefined || scope.slot === "main" ? "" : `-${scope.slot}`;
  return `${user}${db}${slot}`;
}

/** Users this launch would reset are logged in right now: someone else's system uses them. */
export class AclUsersInUseError extends Error {
  readonly code = "ACL_USERS_IN_USE";
  constructor(readonly users: readonly string[]) {
    super(
      `Redis ACL user${users.length > 1 ? "s" : ""} ${users.map((u) => `"${u}"`).join(", ")} ` +
        "already in use by connected clients (another system started with --redis-acl over this " +
        "redis-server?): resetting their passwords would lock it out; stop it, or use another database",
    );
    this.name = "AclUsersInUseError";
  }
}

/** The user names of the connections open on the server (`CLIENT LIST`'s `user=` fields). */
async function connectedUsers(admin: Redis): Promise<Set<string>> {
  const list = String(await admin.call("CLIENT", "LIST"));
  return new Set([...list.matchAll(/(?:^| )user=(\S+)/gm)].map((m) => m[1]!));
}

/**
 * Creates (or resets) every user on a Redis with `ACL SETUSER`, each with a fresh random password
 * unless `passwords` gives one; `admin` must be allowed ACL and CLIENT LIST (the private Redis of the
 * launcher and the tests: its `default` user). `nameOf` maps a user to the name created
 * (`scopedUserName`; default: unchanged). With `refuseInUse`, throws `AclUsersInUseError` before
 * changing anything when a client is logged in as one of those names. Returns the credentials by
 * user (unscoped) name.
 */
export async function provisionAclUsers(
  admin: Redis,
  options: {
    users?: readonly AclUser[];
    passwords?: Record<string, string>;
    nameOf?: (user: string) => string;
    refuseInUse?: boolean;
  } = {},
): Promise<Map<string, RedisCredentials>> {
  const users = options.users ?? (await aclUsers());
  const nameOf = options.nameOf ?? ((user: string) => user);
  if (options.refuseInUse) {
    const connected = await connectedUsers(admin);
    const inUse = users.map((user) => nameOf(user.name)).filter((name) => connected.has(name));
    if (inUse.length > 0) throw new AclUsersInUseError(inUse);
  }
  const out = new Map<string, RedisCredentials>();
  for (const user of users) {
    const password = options.passwords?.[user.name] ?? randomBytes(24).toString("hex");
    const username = nameOf(user.name);
    await admin.call("ACL", "SETUSER", ...setUserArgs({ ...user, name: username }, password));
    out.set(user.name, { username, password });
  }
  return out;
}

/** Some but not all of a launch's users have their REDIS_PASSWORD_<USER>: names those missing. */
export class AclPasswordsIncompleteError extends Error {
  readonly code = "ACL_PASSWORDS_INCOMPLETE";
  constructor(readonly missing: readonly string[]) {
    super(
      `${missing.join(", ")} not set: with any REDIS_PASSWORD_<USER> set, --redis-acl uses the users of ` +
        "the ACL file Redis loaded (node dist/system/redis-acl-file.js) and needs every one of the launch's",
    );
    this.name = "AclPasswordsIncompleteError";
  }
}

/**
 * The credentials of a launch whose users an operator created from the ACL file
 * (`redis-acl-file.js`, `default` off): each user its own name and the password in its
 * REDIS_PASSWORD_<USER>, as compose hands them (newuser13 F4: the launcher's `ACL SETUSER` needs
 * `default`, or a user with ACL rights, on a Redis it owns). `users`: the launch's users (its
 * services and the gateway). Undefined when no such variable is set (the launcher then provisions
 * its own users); AclPasswordsIncompleteError when only some are.
 */
export function fileUserCredentials(
  users: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Map<string, RedisCredentials> | undefined {
  const set = users.filter((user) => env[passwordVariable(user)]);
  if (set.length === 0) return undefined;
  const missing = users.filter((user) => !env[passwordVariable(user)]).map(passwordVariable);
  if (missing.length > 0) throw new AclPasswordsIncompleteError(missing);
  return new Map(users.map((user) => [user, { username: user, password: env[passwordVariable(user)]! }]));
}

/**
 * The users of one `start:services --redis-acl` launch over `admin`'s database, under launcher slot
 * `slot`: names scoped by both (`scopedUserName`), refused with `AclUsersInUseError` when a client is
 * logged in as one of them (they belong to a running system). `launched`: the unscoped names of the
 * processes this launch starts (services, `gateway`); only their users are created: a user nobody
 * holds the password of (the tools', or other services' under `--add-instances`) is a standing
 * right with no purpose (newuser16 F6). Throws on a name with no ACL rules (a typo, or a service
 * missing from SERVICE_COMMANDS).
 */
export async function provisionLaunchUsers(
  admin: Redis,
  slot: string | undefined,
  launched: readonly string[],
): Promise<Map<string, RedisCredentials>> {
  const database = admin.options.db ?? 0;
  const all = await aclUsers();
  const unknown = launched.filter((name) => !all.some((user) => user.name === name));
  if (unknown.length > 0) throw new Error(`no Redis ACL rules for ${unknown.join(", ")}`);
  return provisionAclUsers(admin, {
    users: all.filter((user) => launched.includes(user.name)),
    nameOf: (user) => scopedUserName(user, { database, slot }),
    refuseInUse: true,
  });
}
