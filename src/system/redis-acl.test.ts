/**
 * Least privilege in Redis (issue 12 item 3): every service's user, and the gateway's, tried against
 * every other service's keys and against the admin commands, gets NOPERM every time; each keeps
 * what it needs (its own keys, its consumer groups, adding dead letters). The committed ACL file is
 * the rendering of src/system/redis-acl.ts.
 */
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import {
  eventStreamKey,
  READ_TO_TTL_MS,
  readToKey,
  redeliverStreamKey,
  replaysKey,
} from "../lib/bus/transports/redis-stream-keys.js";
import { recreateGroup, sendReadMarks } from "../lib/bus/transports/redis-streams-read-marks.js";
import { readFewScript } from "../lib/bus/transports/redis-streams-scripts.js";
import { DeadLetterQueue } from "../lib/dlq/dead-letter-queue.js";
import { RedisDeadLetterStore } from "../lib/dlq/redis-dead-letter-store.js";
import { checkRedisDurability, createRedisPlatform } from "../lib/runtime/platform.js";
import { AofCompactor } from "../lib/security/aof-compactor.js";
import { RedisTokenKeyStore, tokenKeyKey } from "../lib/security/payment-token.js";
import { productKey } from "../services/inventory/keys.js";
import { deadlineIndexKey, deadlinePositionsKey, ORDER_TAG } from "../services/order/keys.js";
import { describeWithRedis } from "../test-support/redis.js";
import { watchRedisMemory } from "../gateway/redis-memory.js";
import { SERVICES } from "./catalog.js";
import { KEY_FAMILIES } from "./key-families.js";
import { scanKeys } from "./key-scan.js";
import {
  type AclUser,
  aclUsers,
  consumedTopics,
  DATA_COMMANDS,
  GATEWAY_COMMANDS,
  provisionAclUsers,
  type RedisCredentials,
  renderAclFile,
  serviceCommands,
} from "./redis-acl.js";
import { renderKeyNeeds, verificationNeeds } from "./signing-key-distribution.js";

const SERVICE_NAMES = SERVICES.map((s) => s.name);

/** Reads and writes of every type, as (command, args) for a key. */
const probesFor = (key: string, type: string): [string, ...string[]][] => {
  const reads: Record<string, [string, ...string[]]> = {
    string: ["GET", key],
    hash: ["HGETALL", key],
    list: ["LRANGE", key, "0", "-1"],
    set: ["SMEMBERS", key],
    zset: ["ZRANGE", key, "0", "-1"],
    stream: ["XRANGE", key, "-", "+"],
  };
  const writes: Record<string, [string, ...string[]]> = {
    string: ["SET", key, "forged"],
    hash: ["HSET", key, "status", "forged"],
    list: ["RPUSH", key, "forged"],
    set: ["SADD", key, "forged"],
    zset: ["ZADD", key, "1", "forged"],
    stream: ["XADD", key, "*", "b", "forged"],
  };
  return [
    reads[type]!,
    writes[type]!,
    ["DEL", key],
    ["EXISTS", key],
    ["EVAL", "return redis.call('TYPE', KEYS[1])", "1", key],
  ];
};

/** Events owned by `service` (their streams are its keys: only it may append or trim). */
const ownedEvents = (service: string) =>
  Object.values(AllEvents)
    .filter((d) => d.owner === service)
    .map((d) => d.name);

const ADMIN_COMMANDS: [string, ...string[]][] = [
  ["CONFIG", "GET", "requirepass"],
  ["KEYS", "*"],
  ["SCAN", "0"],
  ["FLUSHALL"],
  ["FLUSHDB"],
  ["ACL", "LIST"],
  ["SHUTDOWN", "NOSAVE"],
  ["MONITOR"],
  ["CLIENT", "KILL", "TYPE", "normal"],
  ["SLOWLOG", "GET", "-1"],
  ["SLOWLOG", "RESET"],
  ["SLOWLOG", "LEN"],
  ["BGREWRITEAOF"],
];
/**
 * The admin commands the order service's shredding runs (src/lib/security/aof-compactor.ts): the
 * AOF rewrite and the SLOWLOG check and reset. Refused to every other user.
 */
const ORDER_SHREDDING = new Set(["BGREWRITEAOF", "SLOWLOG GET -1", "SLOWLOG RESET"]);

describeWithRedis("Redis ACL users", (getRedis) => {
  let users: AclUser[] = [];
  const clients = new Map<string, Redis>();
  let consumed = new Map<string, { owner: string; topic: string }[]>();
  let credentials = new Map<string, RedisCredentials>();

  beforeAll(async () => {
    users = await aclUsers();
    consumed = await consumedTopics();
    const admin = getRedis().client();
    credentials = await provisionAclUsers(admin, { users });
    for (const [name, { username, password }] of credentials) {
      clients.set(name, new Redis(getRedis().url, { username, password, maxRetriesPerRequest: 0 }));
    }
  }, 60_000);
  afterAll(() => {
    for (const client of clients.values()) client.disconnect();
  });

  /** Redis's refusal: NOPERM, or inside a script the same check's "can't access / can't run". */
  const refused = (answer: string) => /^NOPERM|can't (access|run)/.test(answer);

  /** The error Redis answered with ("" when it ran). */
  const attempt = async (user: string, [command, ...args]: [string, ...string[]]) =>
    clients
      .get(user)!
      .call(command, ...args)
      .then(
        () => "",
        (error: Error) => error.message,
      );

  it("the committed ops/redis/users.acl is the rendering of src/system/redis-acl.ts", () => {
    const committed = readFileSync(new URL("../../ops/redis/users.acl", import.meta.url), "utf8");
    expect(committed).toBe(renderAclFile(users, () => undefined));
  });

  it("the committed src/system/signing-key-needs.ts is what the subscriptions derive", async () => {
    const committed = readFileSync(new URL("./signing-key-needs.ts", import.meta.url), "utf8");
    expect(committed).toBe(renderKeyNeeds(await verificationNeeds()));
  });

  it("every service's user gets NOPERM on every other service's keys, streams and discovery entries", async () => {
    const allowed: string[] = [];
    let tries = 0;
    for (const user of [...SERVICE_NAMES, "gateway"]) {
      for (const owner of SERVICE_NAMES.filter((s) => s !== user)) {
        const targets: [string, string][] = [
          ...KEY_FAMILIES.filter((f) => f.owner.split(" ")[0] === owner).map(
            (f) => [f.example, f.type] as [string, string],
          ),
          ...ownedEvents(owner).map((event) => [eventStreamKey(owner, event), "stream"] as [string, string]),
          [`{${owner}}:redeliver`, "stream"],
          [`{${owner}}:idem:k`, "string"],
          [`{discovery}:inst:${owner}:i-1`, "hash"],
          [`{discovery}:svc:${owner}`, "set"],
        ];
        for (const [key, type] of targets) {
          // The gateway manages discovery and redelivers dead letters to a group's stream.
          if (user === "gateway" && (key.startsWith("{discovery}") || /:(redeliver|replays)$/.test(key)))
            continue;
          // By design, order writes (and shreds) the sealed token's key entry in payment's slot.
          if (user === "order" && key.startsWith("{payment}:tokenkey:")) continue;
          // On a stream it consumes, a consumer's scripts check it exists (group commands: below).
          const consumes = (consumed.get(user) ?? []).some((t) => eventStreamKey(t.owner, t.topic) === key);
          for (const probe of probesFor(key, type).filter(([c]) => !(consumes && c === "EXISTS"))) {
            tries++;
            const answer = await attempt(user, probe);
            if (!refused(answer)) allowed.push(`${user}: ${probe.join(" ")} → ${answer || "OK"}`);
          }
        }
      }
    }
    expect(allowed).toEqual([]);
    expect(tries).toBeGreaterThan(1_000);
  }, 120_000);

  it("the gateway's redeliver and replay keys are each group's, exactly: a service key whose free-text id ends in }:redeliver or }:replays is NOPERM (break44 F2)", async () => {
    const admin = getRedis().client();
    const allowed: string[] = [];
    for (const suffix of ["}:redeliver", "}:replays"]) {
      // A product (an admin-chosen id) and an order list (a client-chosen userId) named so.
      const product = productKey(`b44-lamp${suffix}`);
      const list = `{order}:order-list-v1:user:b44victim${suffix}`;
      await admin.hset(product, { available: "10", reserved: "0", committed: "0", price: "2500" });
      await admin.zadd(list, 1, "some-order");
      for (const probe of [
        ["HSET", product, "available", "100000", "price", "1"],
        ["HGETALL", product],
        ["DEL", product],
        ["ZADD", list, "2", "forged"],
        ["DEL", list],
        ["XADD", `{inventory}:x${suffix}`, "*", "b", "forged"],
        ["EVAL", "return redis.call('DEL', KEYS[1])", "1", list],
      ] as [string, ...string[]][]) {
        const answer = await attempt("gateway", probe);
        if (!refused(answer)) allowed.push(`gateway: ${probe.join(" ")} → ${answer || "OK"}`);
      }
      expect(await admin.hget(product, "available")).toBe("10");
      expect(await admin.zcard(list)).toBe(1);
    }
    // Each group's own redeliver stream and replay set stay the gateway's.
    for (const group of SERVICE_NAMES) {
      for (const probe of [
        ["XADD", redeliverStreamKey(group), "*", "b", "probe"],
        ["ZADD", replaysKey(group), "1", "probe"],
      ] as [string, ...string[]][]) {
        const answer = await attempt("gateway", probe);
        if (answer !== "") allowed.push(`gateway refused its own ${probe.join(" ")} → ${answer}`);
      }
    }
    expect(allowed).toEqual([]);
  });

  it("a consumer may run group commands on the streams it consumes, but not append, trim, delete or read them directly", async () => {
    const allowed: string[] = [];
    const denied: string[] = [];
    for (const user of SERVICE_NAMES) {
      for (const { owner, topic } of consumed.get(user) ?? []) {
        if (owner === user) continue;
        const key = eventStreamKey(owner, topic);
        const groupCreate = await attempt(user, ["XGROUP", "CREATE", key, `acl-${user}`, "$", "MKSTREAM"]);
        if (groupCreate !== "" && !groupCreate.includes("BUSYGROUP"))
          denied.push(`${user}: XGROUP ${key} → ${groupCreate}`);
        const read = await attempt(user, [
          "XREADGROUP",
          "GROUP",
          `acl-${user}`,
          "c",
          "COUNT",
          "1",
          "STREAMS",
          key,
          ">",
        ]);
        if (read !== "") denied.push(`${user}: XREADGROUP ${key} → ${read}`);
        // The read-to marks (break21 N3), with the service's own group (the marks' keys name it): a
        // blocking read's mark, a group recreated behind it moved forward (SETID), the read-few script.
        const client = clients.get(user)!;
        const admin = getRedis().client();
        const entry = String(await admin.xadd(key, "*", "b", "probe"));
        await admin.xgroup("CREATE", key, user, "0").catch(() => {});
        await admin.xgroup("SETID", key, user, "0");
        await admin.xadd(key, "*", "b", "next");
        const scripts: [string, () => Promise<unknown>][] = [
          [
            "mark",
            () =>
              new Promise((resolve, reject) => {
                sendReadMarks(client, user, new Map([[key, entry]]), reject);
                void client.ping().then(resolve);
              }),
          ],
          ["recreate", () => recreateGroup(client, key, user, "0-1")],
          [
            "read few",
            () => readFewScript.run(client, [key, readToKey(key, user)], [user, "c", 1, READ_TO_TTL_MS]),
          ],
          ["recreate redeliver", () => recreateGroup(client, redeliverStreamKey(user), user, "0-1")],
        ];
        for (const [what, run] of scripts) {
          const error = await run().then(
            () => "",
            (e: Error) => e.message,
          );
          if (error !== "") denied.push(`${user}: ${what} ${key} → ${error}`);
        }
        const moved = (await admin.xinfo("GROUPS", key)) as unknown[][];
        const own = moved.find((g) => g[1] === user)!;
        if (String(own[own.indexOf("last-delivered-id") + 1]) === "0-0")
          denied.push(`${user}: the recreation did not move ${key} forward`);
        for (const probe of [
          ["XADD", key, "*", "b", "forged"],
          ["XTRIM", key, "MAXLEN", "0"],
          ["DEL", key],
          ["XRANGE", key, "-", "+"],
          ["XGROUP", "DESTROY", key, `acl-${user}`],
        ] as [string, ...string[]][]) {
          const answer = await attempt(user, probe);
          if (!refused(answer)) allowed.push(`${user}: ${probe.join(" ")} → ${answer || "OK"}`);
        }
      }
    }
    expect(denied).toEqual([]);
    expect(allowed).toEqual([]);
  }, 60_000);

  it("services may add dead letters of their own group only and not read them; the gateway reads them; nobody runs admin commands", async () => {
    const admin = getRedis().client();
    await admin.hset("{dlq}:rec:acl-1", "data", "{}", "status", "pending");
    const problems: string[] = [];
    for (const user of SERVICE_NAMES) {
      const add = await attempt(user, [
        "EVAL",
        "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end redis.call('HSET', KEYS[1], 'data', ARGV[1]) redis.call('ZADD', KEYS[2], 1, ARGV[2]) return 1",
        "2",
        `{dlq}:rec:${user}|probe`,
        "{dlq}:idx",
        "{}",
        `${user}|probe`,
      ]);
      if (add !== "") problems.push(`${user}: cannot add a dead letter: ${add}`);
      // The store's own audit append (its script reads Redis TIME: break-11 F1).
      const audit = await new RedisDeadLetterStore(clients.get(user)!)
        .appendAudit({
          at: new Date().toISOString(),
          recordId: `${user}|probe`,
          action: "dead-lettered",
          actor: user,
        })
        .then(
          () => "",
          (error: Error) => error.message,
        );
      if (audit !== "") problems.push(`${user}: cannot append to the DLQ audit trail: ${audit}`);
      // Another group's record (break-12 F5: a planted payment.processed for the order group).
      const other = user === "order" ? "shipping" : "order";
      const foreign = `{dlq}:rec:${other}|payment.processed|1-0`;
      for (const probe of [
        ["HSET", foreign, "data", "{}", "status", "dead"],
        ["EVAL", "return redis.call('HSET', KEYS[1], 'status', 'dead')", "1", foreign],
        ["HSET", "{dlq}:rec:acl-1", "status", "dead"],
        ["RPUSH", `{dlq}:audit:${other}|payment.processed|1-0`, "x"],
        ["HGETALL", "{dlq}:rec:acl-1"],
        ["ZRANGE", "{dlq}:idx", "0", "-1"],
        ["EVAL", "return redis.call('HGETALL', KEYS[1])", "1", "{dlq}:rec:acl-1"],
      ] as [string, ...string[]][]) {
        const answer = await attempt(user, probe);
        if (!refused(answer)) problems.push(`${user}: ${probe.join(" ")} → ${answer || "OK"}`);
      }
    }
    if ((await attempt("gateway", ["HGETALL", "{dlq}:rec:acl-1"])) !== "")
      problems.push("gateway cannot read the DLQ");
    for (const user of [...SERVICE_NAMES, "gateway"]) {
      for (const probe of ADMIN_COMMANDS) {
        if (user === "order" && ORDER_SHREDDING.has(probe.join(" "))) continue; // below
        const answer = await attempt(user, probe);
        if (!refused(answer)) problems.push(`${user}: ${probe.join(" ")} → ${answer || "OK"}`);
      }
      if ((await attempt(user, ["SET", `{${user}}:acl-own`, "1"])) !== "" && user !== "gateway")
        problems.push(`${user} cannot write its own keys`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  /**
   * Arguments that pass the command's arity check (Redis checks arity before the ACL), with `key`
   * as its first key; undefined for a command that takes no key (Pub/Sub, scripts, housekeeping:
   * the multi-process test runs those as each user).
   */
  const probeOf = async (command: string, key: string): Promise<[string, ...string[]] | undefined> => {
    const [info] = (await getRedis().client().call("COMMAND", "INFO", command)) as [
      [string, number, unknown, number],
    ];
    if (info[3] !== 1) return undefined;
    const arity = Math.abs(info[1]);
    return [command, key, ...Array.from({ length: Math.max(0, arity - 2) }, () => "0")];
  };

  it("the gateway's user runs only the commands the gateway's code uses: every other data command is NOPERM, even on its own keys", async () => {
    const own = new Set(GATEWAY_COMMANDS);
    const wrong: string[] = [];
    const refusedCommands = new Set<string>();
    for (const key of ["{dlq}:acl-probe", "{discovery}:acl-probe", "{order}:redeliver"]) {
      for (const command of DATA_COMMANDS.filter((c) => !c.includes("|"))) {
        const probe = await probeOf(command, key);
        if (!probe) continue;
        const answer = await attempt("gateway", probe);
        const denied = /^NOPERM/.test(answer);
        if (own.has(command) && denied) wrong.push(`gateway needs ${command} but is refused: ${answer}`);
        if (!own.has(command)) {
          if (denied) refusedCommands.add(command);
          else
            wrong.push(`gateway does not use ${command} but may run ${probe.join(" ")} → ${answer || "OK"}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Among them: reading any group's stream as a consumer, plain strings, other key types' writes.
    for (const command of ["xack", "xclaim", "xautoclaim", "get", "set", "hdel", "incr", "unlink", "xdel"])
      expect(refusedCommands, command).toContain(command);
  }, 120_000);

  it("the gateway's user reads INFO memory (the memory watch) and no other server command: CONFIG, MEMORY and the admin commands are NOPERM", async () => {
    const admin = getRedis().client();
    await admin.call("ACL", "LOG", "RESET");
    expect(await attempt("gateway", ["INFO", "memory"])).toBe("");
    const platform = createRedisPlatform({ url: getRedis().url, ...credentials.get("gateway")! });
    const warnings: unknown[] = [];
    const watch = watchRedisMemory({
      redis: platform.redis!,
      registry: new Registry(),
      logger: { warn: (...args: unknown[]) => warnings.push(args) },
      monotonicNow: () => 0,
    });
    try {
      await watch.read();
      expect(warnings).toEqual([]);
      expect(watch.last()?.usedBytes).toBeGreaterThan(0);
    } finally {
      watch.stop();
      await platform.close();
    }
    const log = (await admin.call("ACL", "LOG")) as unknown[][];
    expect(log.map((entry) => entry.map(String).join(" ")).filter((e) => e.includes("gateway"))).toEqual([]);
    const problems: string[] = [];
    for (const probe of [
      ["CONFIG", "GET", "maxmemory"],
      ["CONFIG", "SET", "maxmemory", "0"],
      ["MEMORY", "STATS"],
      ["MEMORY", "USAGE", "{discovery}:services"],
      ["MEMORY", "DOCTOR"],
      ["DBSIZE"],
      ["LATENCY", "LATEST"],
      ...ADMIN_COMMANDS,
    ] as [string, ...string[]][]) {
      const answer = await attempt("gateway", probe);
      if (!/^NOPERM/.test(answer)) problems.push(`gateway: ${probe.join(" ")} → ${answer || "OK"}`);
    }
    expect(problems).toEqual([]);
  }, 30_000);

  it("the gateway's code runs as the gateway's user: discovery, the DLQ, redelivery, hints, durability check", async () => {
    const admin = getRedis().client();
    await admin.call("ACL", "LOG", "RESET");
    // Earlier tests' probes left partial records in the DLQ: start from an empty one.
    const dlqKeys = await admin.keys("{dlq}:*");
    if (dlqKeys.length > 0) await admin.del(...dlqKeys);
    const platform = createRedisPlatform({ url: getRedis().url, ...credentials.get("gateway")! });
    try {
      const { registry, deadLetters, transport } = platform;
      const instance = {
        service: "gateway",
        instanceId: "gw-acl-1",
        address: "127.0.0.1",
        port: 1,
        version: "1",
        startedAt: new Date().toISOString(),
        lastHeartbeat: new Date().toISOString(),
        status: "healthy" as const,
        consecutiveFailures: 0,
      };
      await registry.register(instance, 60_000);
      expect(await registry.heartbeat("gateway", "gw-acl-1", 60_000)).toBe(true);
      expect(await registry.setHealth("gateway", "gw-acl-1", "healthy", 0)).toBe(true);
      expect((await registry.list()).map((i) => i.instanceId)).toContain("gw-acl-1");
      expect(await registry.deregister("gateway", "gw-acl-1")).toBe(true);

      // A dead letter as a service would add it (admin here), then every operator action on it. Its
      // group is one of the system's: the gateway's user reaches exactly their redeliver keys.
      await admin.del("{notification}:redeliver", "{notification}:replays");
      const record = (n: number) => ({
        id: `notification|order.created|1-${n}`,
        group: "notification",
        topic: "order.created",
        owner: "order",
        deliveryId: `1-${n}`,
        body: "{}",
        reason: "HANDLER_FAILED: boom",
        attempts: [],
        deadLetteredAt: new Date().toISOString(),
        status: "dead" as const,
        retries: 0,
      });
      const seeded = createRedisPlatform({ url: getRedis().url });
      try {
        for (const n of [1, 2, 3]) await seeded.deadLetters.add(record(n));
      } finally {
        await seeded.close();
      }
      const dlq = new DeadLetterQueue({
        store: deadLetters,
        redeliver: transport.redeliver.bind(transport),
        ...(transport.redeliverOnce ? { redeliverOnce: transport.redeliverOnce.bind(transport) } : {}),
      });
      // A ghost entry and a re-dated one (break25): dropped and set back by the gateway's own user.
      await admin.zadd("{dlq}:idx", 5, "notification|ghost|1-0", 6, record(2).id);
      expect((await dlq.page({ group: "notification" }, { limit: 10 })).records).toHaveLength(3);
      expect(await admin.zscore("{dlq}:idx", "notification|ghost|1-0")).toBeNull();
      await dlq.inspect(record(1).id);
      await dlq.retry(record(1).id, { actor: "acl-test" });
      expect((await dlq.retryMany([record(2).id], { actor: "acl-test" })).retried).toHaveLength(1);
      await dlq.archive(record(3).id, { actor: "acl-test" });
      expect((await dlq.purge([record(3).id], { actor: "acl-test" })).purged).toEqual([record(3).id]);
      const byAge = await dlq.purge(
        { olderThan: new Date(Date.now() + 60_000).toISOString() },
        { actor: "acl-test" },
      );
      expect(byAge.purged.sort()).toEqual([record(1).id, record(2).id].sort());
      expect(await deadLetters.audit()).not.toHaveLength(0);
      await platform.hints.publish([{ topic: "metrics.breaker", owner: "gateway", id: "h1", body: "{}" }]);
      await checkRedisDurability(platform.redis!);
      await platform.clock();
      expect(await admin.xlen("{notification}:redeliver")).toBe(2);
    } finally {
      await platform.close();
    }
    const log = (await admin.call("ACL", "LOG")) as unknown[][];
    expect(log.map((entry) => entry.map(String).join(" ")).filter((e) => e.includes("gateway"))).toEqual([]);
  }, 60_000);

  it("each service's user runs only the commands its code uses: every other data command is NOPERM, even on its own keys", async () => {
    const wrong: string[] = [];
    let refusedCount = 0;
    for (const user of SERVICE_NAMES) {
      const own = new Set(serviceCommands(user));
      const key = `{${user}}:acl-probe`;
      for (const command of DATA_COMMANDS.filter((c) => !c.includes("|"))) {
        const probe = await probeOf(command, key);
        if (!probe) continue;
        const answer = await attempt(user, probe);
        // NOPERM on the command, or (DLQ selector commands) on its own key: refused either way.
        const denied = /^NOPERM/.test(answer);
        if (own.has(command) && denied) wrong.push(`${user} needs ${command} but is refused: ${answer}`);
        if (!own.has(command)) {
          if (denied) refusedCount++;
          else wrong.push(`${user} does not use ${command} but may run it → ${answer || "OK"}`);
        }
      }
      // And never the keyspace-wide or admin ones, whatever the key.
      for (const probe of [
        ["FLUSHALL"],
        ["CONFIG", "SET", "maxmemory", "1"],
        ["KEYS", `{${user}}:*`],
        ["SCAN", "0"],
      ] as [string, ...string[]][]) {
        if (!/^NOPERM/.test(await attempt(user, probe))) wrong.push(`${user} may run ${probe[0]}`);
      }
    }
    expect(wrong).toEqual([]);
    // The lists differ from the full data command list: each service is refused something.
    expect(refusedCount).toBeGreaterThan(SERVICE_NAMES.length * 10);
  }, 120_000);

  it("the command lists differ by service: what one service's stores run, another's user may not", async () => {
    // Examples from the code: order's event store reads with XRANGE, the inventory increments with
    // HINCRBY, payment reads its ledger with MGET; the user service runs none of them.
    for (const [user, probe] of [
      ["user", ["XRANGE", "{user}:acl-probe", "-", "+"]],
      ["user", ["HINCRBY", "{user}:acl-probe", "f", "1"]],
      ["user", ["MGET", "{user}:acl-probe"]],
      ["shipping", ["UNLINK", "{shipping}:acl-probe"]],
      ["notification", ["HSCAN", "{notification}:acl-probe", "0"]],
    ] as [string, [string, ...string[]]][]) {
      expect(await attempt(user, probe), `${user} ${probe[0]}`).toMatch(/^NOPERM/);
    }
    expect(await attempt("order", ["XRANGE", "{order}:acl-own-1", "-", "+"])).toBe("");
    expect(await attempt("inventory", ["HINCRBY", "{inventory}:acl-own-1", "f", "1"])).toBe("");
    expect(await attempt("payment", ["MGET", "{payment}:acl-own-1"])).toBe("");
  });

  const scanLimits = () => ({
    streamRetentionMs: 60_000,
    dlqAuditRetentionMs: 60_000,
    markerTtlMs: 60_000,
    heartbeatIntervalMs: 30_000,
    slackMs: 60_000,
    now: Date.now(),
    groupLagMs: 60_000,
    pendingMaxAgeMs: 60_000,
    overdueMs: 60_000,
  });

  it("the observer runs the key scan's one-transaction read of a deadline's positions and index (MULTI/EXEC)", async () => {
    const admin = getRedis().client();
    const positions = deadlinePositionsKey(ORDER_TAG, "order-deadlines-v1");
    const due = deadlineIndexKey(ORDER_TAG, "order-deadlines-v1");
    // o-kept is in both keys; o-left only in the positions: the scan must read both to say so.
    await admin.hset(positions, "o-kept", "5", "o-left", "7");
    await admin.zadd(due, String(Date.now() + 3_600_000), "o-kept");
    try {
      const scan = await scanKeys(clients.get("observer")!, scanLimits());
      expect(scan.violations.filter((v) => v.startsWith(positions))).toEqual([
        expect.stringContaining(`1 field(s) not in ${due} (e.g. o-left)`),
      ]);
    } finally {
      await admin.del(positions, due);
    }
  });

  it("the observer (read-only tools) scans every key family but writes, scripts and administers nothing", async () => {
    const admin = getRedis().client();
    await admin.set("{order}:obs-probe", "1");
    await admin.xadd("{order}:ev:obs.probe", "*", "b", "1");
    const observer = clients.get("observer")!;
    const scan = await scanKeys(observer, scanLimits(), { bytes: { sample: 5 } });
    expect(scan.unknown).toContain("{order}:obs-probe");
    expect(await observer.get("{order}:obs-probe")).toBe("1");
    expect(await observer.xlen("{order}:ev:obs.probe")).toBe(1);
    const problems: string[] = [];
    for (const probe of [
      ["SET", "{order}:obs-probe", "2"],
      ["DEL", "{order}:obs-probe"],
      ["XADD", "{order}:ev:obs.probe", "*", "b", "forged"],
      ["EVAL", "return 1", "0"],
      ["PUBLISH", "ps:x", "1"],
      ...ADMIN_COMMANDS.filter(([command]) => command !== "SCAN"), // SCAN is how it walks the keys
    ] as [string, ...string[]][]) {
      const answer = await attempt("observer", probe);
      if (!/^NOPERM/.test(answer)) problems.push(`observer: ${probe.join(" ")} → ${answer || "OK"}`);
    }
    expect(problems).toEqual([]);
  });

  it("the order service's user writes and shreds payment token keys; payment reads them", async () => {
    const order = new RedisTokenKeyStore(clients.get("order")!);
    await order.put("acl-order-1", "aaaaaaaaaaaa", "pub.secret");
    expect(await new RedisTokenKeyStore(clients.get("payment")!).get("acl-order-1", "aaaaaaaaaaaa")).toBe(
      "pub.secret",
    );
    await order.delete("acl-order-1");
    expect(await getRedis().client().exists(tokenKeyKey("acl-order-1"))).toBe(0);
  });

  it("the order service's user runs the shredding's SLOWLOG check and reset, and no other SLOWLOG", async () => {
    const errors: unknown[] = [];
    const compactor = new AofCompactor(clients.get("order")!, { onError: (error) => errors.push(error) });
    await compactor.clearSlowlog();
    compactor.stop();
    expect(errors).toEqual([]);
    expect(await attempt("order", ["SLOWLOG", "RESET"])).toBe("");
    expect(await attempt("order", ["SLOWLOG", "LEN"])).toMatch(/^NOPERM/);
  });
});
