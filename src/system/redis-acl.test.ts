/**
 * Least privilege in Redis (issue 12 item 3): every service's user, and the gateway's, tried against
 * every other service's keys and against the admin commands, gets NOPERM every time; each keeps
 * what it needs (its own keys, its consumer groups, adding dead letters). The committed ACL file is
 * the rendering of src/system/redis-acl.ts.
 */
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { eventStreamKey } from "../lib/bus/transports/redis-stream-keys.js";
import { describeWithRedis } from "../test-support/redis.js";
import { SERVICES } from "./catalog.js";
import { KEY_FAMILIES } from "./key-families.js";
import { type AclUser, aclUsers, consumedTopics, provisionAclUsers, renderAclFile } from "./redis-acl.js";
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
];

describeWithRedis("Redis ACL users", (getRedis) => {
  let users: AclUser[] = [];
  const clients = new Map<string, Redis>();
  let consumed = new Map<string, { owner: string; topic: string }[]>();

  beforeAll(async () => {
    users = await aclUsers();
    consumed = await consumedTopics();
    const admin = getRedis().client();
    const credentials = await provisionAclUsers(admin, { users });
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
        const answer = await attempt(user, probe);
        if (!refused(answer)) problems.push(`${user}: ${probe.join(" ")} → ${answer || "OK"}`);
      }
      if ((await attempt(user, ["SET", `{${user}}:acl-own`, "1"])) !== "" && user !== "gateway")
        problems.push(`${user} cannot write its own keys`);
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
