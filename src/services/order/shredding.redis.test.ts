/**
 * Break-12 F2: crypto-shredding must hold for the AOF too. The order service deletes an ended
 * order's token key, but the AOF kept the `HSET` that wrote it, and with it and the payment
 * service's private key the sealed token (still in the event store and streams, by design) opened
 * again. Here orders run to their end over a real Redis with AOF; once the order service's own AOF
 * rewrite has run, the AOF files are parsed and every sealed token in them is tried with every
 * token key found in them and the payment service's private key: nothing opens.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { AofCompactor } from "../../lib/security/aof-compactor.js";
import {
  MemoryTokenKeyStore,
  TOKEN_KEYS_ENV,
  tokenKeyKey,
  tokenKeysFromEnv,
  tokenOpenerFromEnv,
} from "../../lib/security/payment-token.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, orderBody, startOrderService } from "./test-harness.js";

/** Every command of the RESP-encoded AOF files. */
function aofCommands(files: readonly Buffer[]): string[][] {
  const commands: string[][] = [];
  for (const data of files) {
    let at = 0;
    const line = () => {
      const end = data.indexOf("\r\n", at);
      const text = data.toString("latin1", at, end);
      at = end + 2;
      return text;
    };
    while (at < data.length && data[at] === 0x2a /* '*' */) {
      const count = Number(line().slice(1));
      const args: string[] = [];
      for (let i = 0; i < count; i++) {
        const length = Number(line().slice(1));
        args.push(data.toString("utf8", at, at + length));
        at += length + 2;
      }
      commands.push(args);
    }
  }
  return commands;
}

async function aofFiles(redis: Redis): Promise<{ names: string[]; bytes: Buffer[] }> {
  const [, dir] = (await redis.config("GET", "dir")) as [string, string];
  const [, sub] = (await redis.config("GET", "appenddirname")) as [string, string];
  const names = readdirSync(join(dir, sub));
  return { names, bytes: names.map((name) => readFileSync(join(dir, sub, name))) };
}

/**
 * Every sealed token in the AOF tried with every token key entry in it and the payment service's
 * private key (this process's development pair, the one the order service sealed with).
 */
async function recover(
  files: { names: string[]; bytes: Buffer[] },
  orderIds: readonly string[],
): Promise<{ sealed: number; recovered: string[] }> {
  const commands = aofCommands(files.bytes.filter((_, i) => files.names[i]!.endsWith(".aof")));
  const keys = new MemoryTokenKeyStore();
  for (const [name, key, ...fields] of commands) {
    if (name?.toUpperCase() !== "HSET" || !key?.startsWith("{payment}:tokenkey:")) continue;
    for (let i = 0; i + 1 < fields.length; i += 2)
      await keys.put(key.slice("{payment}:tokenkey:".length), fields[i]!, fields[i + 1]!);
  }
  const everything = files.bytes.map((b) => b.toString("latin1")).join("\n");
  const sealed = [...new Set(everything.match(/enc1\.[0-9a-f]{12}-[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g) ?? [])];
  const opener = tokenOpenerFromEnv(keys, { [TOKEN_KEYS_ENV]: tokenKeysFromEnv({}, TOKEN_KEYS_ENV) });
  const recovered: string[] = [];
  for (const token of sealed)
    for (const orderId of orderIds)
      await opener.open(orderId, token).then(
        (clear) => recovered.push(`${orderId}: ${clear}`),
        () => {},
      );
  return { sealed: sealed.length, recovered };
}

describeWithRedis("crypto-shredding and the AOF", (getRedis) => {
  let platform: Platform;
  let h: OrderHarness | undefined;

  beforeEach(async () => {
    await getRedis().flush();
    // Every AOF file in RESP (no RDB preamble, which may compress strings), so the parse below
    // sees every command a file holds.
    await getRedis().client().config("SET", "aof-use-rdb-preamble", "no");
    platform = createRedisPlatform({ url: getRedis().url });
  });

  afterEach(async () => {
    await h?.stop();
    h = undefined;
    await platform.close();
    await getRedis().client().config("SET", "slowlog-log-slower-than", "10000", "slowlog-max-len", "128");
    await getRedis().client().call("SLOWLOG", "RESET");
  });

  /** Every argument of every SLOWLOG entry (all of them: `-1`). */
  const slowlogArgs = async (): Promise<string[]> => {
    const entries = (await getRedis().client().call("SLOWLOG", "GET", "-1")) as [
      unknown,
      unknown,
      unknown,
      string[],
    ][];
    return entries.flatMap((entry) => entry[3].map(String));
  };
  const logEverything = () =>
    getRedis().client().config("SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "100000");

  it("after the saga ends, SLOWLOG no longer holds the order's token-key entry (break-gateway F2)", async () => {
    await logEverything();
    h = await startOrderService(platform, { aofRewriteIntervalMs: 200 });
    const redis = getRedis().client();
    const orderId = await h.place(orderBody({ payment: { token: `tok_ok__slow${Date.now()}` } }));
    const entries = Object.values(await redis.hgetall(tokenKeyKey(orderId)));
    // The control: while the saga runs, every command is logged, the token key's write with its
    // entry (`<public>.<secret>`, under the 128-character cut), which opens the sealed token.
    expect(entries).toHaveLength(1);
    expect(await slowlogArgs()).toContain(entries[0]);
    await h.waitForStatus(orderId, "delivered", 60_000);
    await waitFor(async () => (await redis.exists(tokenKeyKey(orderId))) === 0, 30_000, "token key shredded");
    await waitFor(
      async () => !(await slowlogArgs()).includes(entries[0]!),
      30_000,
      "a SLOWLOG without the shredded entry",
    );
  }, 120_000);

  it("with AOF off, the service scrubs SLOWLOG after shredding but sends no BGREWRITEAOF (new-user bench F4)", async () => {
    const redis = getRedis().client();
    await redis.config("SET", "appendonly", "no");
    try {
      await redis.config("RESETSTAT");
      await logEverything();
      h = await startOrderService(platform, { aofRewriteIntervalMs: 200 });
      const orderId = await h.place(orderBody({ payment: { token: `tok_ok__noaof${Date.now()}` } }));
      const entries = Object.values(await redis.hgetall(tokenKeyKey(orderId)));
      expect(await slowlogArgs()).toContain(entries[0]);
      await h.waitForStatus(orderId, "delivered", 60_000);
      // The compactor's run: the scrub (SLOWLOG RESET), then its AOF check (logged after the reset),
      // or, without the check, a rewrite.
      const rewrites = async () =>
        Number(/cmdstat_bgrewriteaof:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1] ?? 0);
      await waitFor(
        async () => {
          const args = await slowlogArgs();
          return (!args.includes(entries[0]!) && args.includes("persistence")) || (await rewrites()) > 0;
        },
        30_000,
        "the compactor's run after the shred",
      );
      await h.stop();
      h = undefined;
      expect(await slowlogArgs()).not.toContain(entries[0]);
      expect(await rewrites()).toBe(0);
    } finally {
      await redis.config("SET", "appendonly", "yes");
    }
  }, 120_000);

  it("with tokenSealFormat v1 (PAYMENT_TOKEN_SEAL_FORMAT) the service writes v1 entries, and the order completes", async () => {
    h = await startOrderService(platform, { tokenSealFormat: "v1" });
    const orderId = await h.place(orderBody({ payment: { token: `tok_ok__v1${Date.now()}` } }));
    const entries = Object.values(await getRedis().client().hgetall(tokenKeyKey(orderId)));
    // v1: the ephemeral public key alone (32 bytes, base64), no entry secret.
    expect(entries).toEqual([expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/)]);
    await h.waitForStatus(orderId, "delivered", 60_000);
  }, 120_000);

  it("the compactor keeps an operator's SLOWLOG that holds no token key's write", async () => {
    await logEverything();
    const redis = getRedis().client();
    const compactor = new AofCompactor(redis, { onError: (error) => expect.fail(String(error)) });
    try {
      await redis.set("{order}:slow-probe", "1");
      // Shredding's own DEL and payment's HGET name a token key but carry no entry.
      await redis.del(tokenKeyKey("o-slow"));
      await redis.hget(tokenKeyKey("o-slow"), "aaaaaaaaaaaa");
      expect(await compactor.clearSlowlog()).toBe(false);
      expect(await slowlogArgs()).toEqual(
        expect.arrayContaining(["{order}:slow-probe", tokenKeyKey("o-slow")]),
      );
      // A token key's write (as RedisTokenKeyStore.put runs it) empties it.
      await redis.hset(tokenKeyKey("o-slow"), "aaaaaaaaaaaa", "pub.secret");
      expect(await compactor.clearSlowlog()).toBe(true);
      expect(await slowlogArgs()).not.toContain("pub.secret");
    } finally {
      compactor.stop();
    }
  });

  it("after the saga ends and the service's AOF rewrite, no token can be opened from the AOF", async () => {
    h = await startOrderService(platform, { aofRewriteIntervalMs: 200 });
    const orderIds: string[] = [];
    const token = (i: number) => `tok_ok__shred${i}x${Date.now()}`;
    orderIds.push(await h.place(orderBody({ payment: { token: token(0) } })));
    // The attack works while the saga runs (its token key is live and in the AOF): the control.
    const during = await recover(await aofFiles(getRedis().client()), orderIds);
    expect(during.recovered).toEqual([expect.stringMatching(/: tok_ok__shred0x\d+$/)]);
    for (let i = 1; i < 3; i++) orderIds.push(await h.place(orderBody({ payment: { token: token(i) } })));
    for (const id of orderIds) await h.waitForStatus(id, "delivered", 60_000);
    const redis = getRedis().client();
    await waitFor(
      async () =>
        (await Promise.all(orderIds.map((id) => redis.exists(tokenKeyKey(id))))).every((n) => n === 0),
      30_000,
      "token keys shredded",
    );

    // The AOF no longer names an ended order's token key once a rewrite has run after the shreds.
    const files = await waitFor(
      async () => {
        const info = await redis.info("persistence");
        if (!/aof_rewrite_in_progress:0/.test(info) || !/aof_rewrite_scheduled:0/.test(info))
          return undefined;
        const found = await aofFiles(redis);
        // A rewrite has replaced the start-up RDB base with a RESP one (see beforeEach).
        if (found.names.some((name) => name.endsWith(".rdb"))) return undefined;
        const text = found.bytes.map((b) => b.toString("latin1")).join("\n");
        return orderIds.some((id) => text.includes(tokenKeyKey(id))) ? undefined : found;
      },
      60_000,
      "an AOF without the shredded token keys",
    );

    // The reviewer's attack, on what is left: the sealed tokens are still there (the orders' history
    // stays readable), the keys that opened them are not.
    const after = await recover(files, orderIds);
    expect(after.sealed).toBeGreaterThanOrEqual(orderIds.length);
    expect(after.recovered).toEqual([]);
  }, 180_000);
});
