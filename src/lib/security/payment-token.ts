/**
 * Payment tokens: readable only by the payment service, and by no one once the order's saga ended
 * (crypto-shredding).
 *
 * Sealing (the order service, which receives the token with the order): an ephemeral X25519 key
 * pair, agreed with the payment public key (ECDH) and its private half dropped at once; the
 * agreement serves at most `SEAL_BATCH.uses` tokens within `SEAL_BATCH.ms` (issue 14: a key pair
 * and an ECDH per token were a fifth of the order service's CPU on POST /orders). Each token gets
 * 32 random bytes of its own (the entry secret); data key = HKDF-SHA256(shared secret, salt = order
 * id, info = "ordersaga payment token v2\n" + entry secret); the token is sealed with it
 * (AES-256-GCM, AAD = order id). The store keeps, under the order id, `<ephemeral public key>.<entry
 * secret>` (base64 both). The sealed token goes in the order's created event and in
 * `payment.requested`; it carries the payment key id and a seal id, never a key.
 *
 * Opening (the payment service only: it alone holds the X25519 private key): read the entry, ECDH
 * with the ephemeral public key, HKDF with the entry secret, decrypt. At the saga's terminal state
 * the order service deletes the order's entry: from then on no key, not even the payment service's
 * private key, can rebuild the data key (another order's entry may hold the same ephemeral public
 * key, never this order's entry secret), while the order's history (which holds only the sealed
 * token) stays readable. Entries of the v1 format (the ephemeral public key alone, one key pair per
 * token, info "ordersaga payment token v1") still open, and are still written with
 * `PAYMENT_TOKEN_SEAL_FORMAT=v1` (a rolling upgrade: a payment service older than v2 opens only v1).
 *
 * Keys: `PAYMENT_TOKEN_KEYS` (payment: `<kid>:<base64 32-byte X25519 private key>`, comma
 * separated, first = current) and `PAYMENT_TOKEN_PUBLIC_KEY` (order: `<kid>:<base64 32-byte X25519
 * public key>`). Outside production, with none set, one ephemeral pair per process (the launcher
 * hands it to its children).
 */
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomFillSync,
} from "node:crypto";
import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.js";
import { DecryptionError, openWithKey, sealedKid, sealWithKey } from "./encryption.js";
import { KeyConfigError, keyEntry } from "./keyring.js";
import { type NativeHmac, nativeHmac } from "./native-hmac.js";

export const TOKEN_KEYS_ENV = "PAYMENT_TOKEN_KEYS";
export const TOKEN_PUBLIC_KEY_ENV = "PAYMENT_TOKEN_PUBLIC_KEY";
/** How long an unended order's token key is kept at most (a backstop: sagas end long before). */
export const TOKEN_KEY_TTL_MS = 7 * 24 * 3_600_000;

const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const INFO = Buffer.from("ordersaga payment token v1");
const INFO_V2 = Buffer.from("ordersaga payment token v2\n");
const ENTRY_SECRET_BYTES = 32;
/**
 * How long one ephemeral agreement seals tokens: at most `uses` tokens and `ms` milliseconds. The
 * order service holds the agreement's shared secret that long (it holds the tokens in clear anyway
 * while sealing them); each token's data key also needs its own entry secret.
 */
export const SEAL_BATCH = { uses: 128, ms: 1_000 } as const;
const SEAL_ID_HEX = 12;

/** Where the ephemeral public keys live, per order and seal: deleting an order's entry shreds its token. */
export interface TokenKeyStore {
  put(orderId: string, sealId: string, ephemeralPublic: string): Promise<void>;
  get(orderId: string, sealId: string): Promise<string | undefined>;
  /** Removes one seal's entry (the key goes with its last entry); nothing when it is not there. */
  remove(orderId: string, sealId: string): Promise<void>;
  /** Shreds every token of the order. */
  delete(orderId: string): Promise<void>;
}

/** `{payment}:tokenkey:<orderId>`: a hash, seal id → ephemeral public key, in payment's hash slot. */
export const tokenKeyKey = (orderId: string): string => `{payment}:tokenkey:${orderId}`;

/**
 * The entry and its TTL in one atomic command: a MULTI/HSET/PEXPIRE/EXEC transaction cost the
 * order service ~3 times the client CPU of this one EVALSHA (issue 14: it ran for every placed order).
 */
const PUT_TOKEN_KEY = new LuaScript(`redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`);

export class RedisTokenKeyStore implements TokenKeyStore {
  constructor(private readonly redis: Redis) {}

  async put(orderId: string, sealId: string, ephemeralPublic: string): Promise<void> {
    await PUT_TOKEN_KEY.run(this.redis, [tokenKeyKey(orderId)], [sealId, ephemeralPublic, TOKEN_KEY_TTL_MS]);
  }

  async get(orderId: string, sealId: string): Promise<string | undefined> {
    return (await this.redis.hget(tokenKeyKey(orderId), sealId)) ?? undefined;
  }

  async remove(orderId: string, sealId: string): Promise<void> {
    // HDEL of a hash's last field deletes the key: no empty key is left behind.
    await this.redis.hdel(tokenKeyKey(orderId), sealId);
  }

  async delete(orderId: string): Promise<void> {
    await this.redis.del(tokenKeyKey(orderId));
  }
}

export class MemoryTokenKeyStore implements TokenKeyStore {
  private readonly entries = new Map<string, Map<string, string>>();

  async put(orderId: string, sealId: string, ephemeralPublic: string): Promise<void> {
    const seals = this.entries.get(orderId) ?? new Map<string, string>();
    seals.set(sealId, ephemeralPublic);
    this.entries.set(orderId, seals);
  }

  async get(orderId: string, sealId: string): Promise<string | undefined> {
    return this.entries.get(orderId)?.get(sealId);
  }

  async remove(orderId: string, sealId: string): Promise<void> {
    const seals = this.entries.get(orderId);
    seals?.delete(sealId);
    if (seals?.size === 0) this.entries.delete(orderId);
  }

  async delete(orderId: string): Promise<void> {
    this.entries.delete(orderId);
  }

  get size(): number {
    return this.entries.size;
  }
}

const memoryStores = new WeakMap<object, MemoryTokenKeyStore>();

/** The token-key store of a platform: Redis when it has a connection, else one shared memory store. */
export function tokenKeyStoreOf(platform: { redis: Redis | undefined }): TokenKeyStore {
  if (platform.redis) return new RedisTokenKeyStore(platform.redis);
  let store = memoryStores.get(platform);
  if (!store) memoryStores.set(platform, (store = new MemoryTokenKeyStore()));
  return store;
}

const rawPrivate = (raw: Buffer): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: "der", type: "pkcs8" });
/**
 * The X25519 public key of 32 raw bytes (RFC 7748), imported as a JWK (RFC 8037 `OKP`/`X25519`):
 * the same key as its SPKI DER form, for ~8 µs instead of ~75 (OpenSSL 3's DER decoder); the
 * payment service imports one per batch of sealed tokens it opens.
 */
const rawPublic = (raw: Buffer): KeyObject =>
  createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
/**
 * The X25519 shared secret (RFC 7748), or undefined when the public key is a low-order point (e.g.
 * 32 zero bytes): the secret would be all zeros, which OpenSSL refuses (§6.1 says to check it).
 * Any other failure is thrown as it is (break46 F5: this one alone read as a retryable error).
 */
function agreement(privateKey: KeyObject, publicKey: KeyObject): Buffer | undefined {
  try {
    return diffieHellman({ privateKey, publicKey });
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_OSSL_FAILED_DURING_DERIVATION") return undefined;
    throw error;
  }
}
const publicRaw = (key: KeyObject): Buffer => key.export({ format: "der", type: "spki" }).subarray(-32);
/**
 * The raw 32-byte public key, base64, read from its JWK (`x`, base64url): the same bytes as
 * `publicRaw`, for a fraction of the CPU (OpenSSL's DER encoder made `export` ~40% of sealing).
 */
export const publicRawBase64 = (key: KeyObject): string =>
  Buffer.from(key.export({ format: "jwk" }).x ?? "", "base64url").toString("base64");

const ONE = Buffer.of(1);

/**
 * HKDF-SHA256 (RFC 5869) for a 32-byte output: extract (PRK = HMAC(salt, ikm)), then the one
 * expand block T(1) = HMAC(PRK, info || 0x01). The same bytes as `hkdfSync("sha256", ikm, salt,
 * info, 32)`: in the native addon when the process has it (~0.6 µs), else two `createHmac` calls
 * (a third of hkdfSync's CPU, which was ~4% of the order service's under POST /orders load).
 * @param addon the addon to use: default the process's, `null` for Node's crypto (tests compare).
 */
export function hkdfSha256x32(
  ikm: Buffer,
  salt: string,
  info: Buffer,
  addon: NativeHmac | null | undefined = nativeHmac,
): Buffer {
  if (addon) {
    const okm = Buffer.alloc(32);
    addon.hkdf32(ikm, Buffer.from(salt), info, okm);
    return okm;
  }
  const prk = createHmac("sha256", salt).update(ikm).digest();
  const okm = createHmac("sha256", prk).update(info).update(ONE).digest();
  prk.fill(0);
  return okm;
}

/** v1 (no entry secret): one key pair per token; v2: the entry secret in the HKDF info. */
function dataKey(shared: Buffer, orderId: string, entrySecret?: Buffer): Buffer {
  if (entrySecret === undefined) return hkdfSha256x32(shared, orderId, INFO);
  // The info holds the entry secret: in memory of its own (not the shared pool), wiped after use.
  const info = Buffer.allocUnsafeSlow(INFO_V2.length + entrySecret.length);
  INFO_V2.copy(info);
  entrySecret.copy(info, INFO_V2.length);
  try {
    return hkdfSha256x32(shared, orderId, info);
  } finally {
    info.fill(0);
  }
}

// Seal ids and entry secrets come from a pool refilled 4 KiB at a time (one call per ~100 seals),
// each copied out once and never handed out twice.
const randomPool = Buffer.allocUnsafe(4096);
let randomOffset = randomPool.length;
function freshRandom(bytes: number): Buffer {
  if (randomOffset + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const out = Buffer.from(randomPool.subarray(randomOffset, randomOffset + bytes));
  randomPool.fill(0, randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return out;
}

interface Agreement {
  shared: Buffer;
  publicKey: string;
  uses: number;
  until: number;
}

/**
 * The entry format the order service writes (env `PAYMENT_TOKEN_SEAL_FORMAT`). `v2` (default): one
 * ephemeral agreement per batch, `<ephemeral public>.<entry secret>`. `v1`: one key pair per token,
 * the entry the ephemeral public key alone, which every payment version opens (a payment service
 * older than v2 cannot open v2 tokens: seal v1 during a rolling upgrade until every payment instance
 * runs a version that opens v2, and while a payment rollback is possible; docs/security.md).
 */
export const SEAL_FORMATS = ["v1", "v2"] as const;
export type SealFormat = (typeof SEAL_FORMATS)[number];

export interface TokenSealerOptions {
  /** The entry format written (default "v2"; "v1" for a payment service older than v2). */
  format?: SealFormat;
  /** Tokens one ephemeral agreement seals at most (default SEAL_BATCH.uses; 1: a key pair per token). */
  batchUses?: number;
  /** Milliseconds one ephemeral agreement seals tokens at most (default SEAL_BATCH.ms). */
  batchMs?: number;
  now?: () => number;
}

function parseEntries(text: string, name: string): { kid: string; raw: Buffer }[] {
  const entries = text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((item, index) => {
      const fields = item.split(":");
      const [kid = "", b64 = ""] = fields;
      const raw = Buffer.from(b64, "base64");
      if (fields.length > 2 || !/^[A-Za-z0-9_-]{1,19}$/.test(kid) || raw.length !== 32)
        throw new KeyConfigError(
          `${name}: expected <kid>:<base64 32-byte X25519 key> (${keyEntry(index, fields.length)})`,
        );
      return { kid, raw };
    });
  if (entries.length === 0) throw new KeyConfigError(`${name}: no keys`);
  return entries;
}

/** The order service's side: seals tokens for the payment service. */
export class TokenSealer {
  private agreement: Agreement | undefined;
  private readonly batchUses: number;
  private readonly batchMs: number;
  private readonly now: () => number;
  private readonly format: SealFormat;

  constructor(
    private readonly paymentKey: { kid: string; key: KeyObject },
    private readonly store: TokenKeyStore,
    options: TokenSealerOptions = {},
  ) {
    this.batchUses = Math.max(1, options.batchUses ?? SEAL_BATCH.uses);
    this.batchMs = options.batchMs ?? SEAL_BATCH.ms;
    this.now = options.now ?? Date.now;
    this.format = options.format ?? "v2";
  }

  async seal(orderId: string, token: string): Promise<string> {
    if (this.format === "v1") return this.sealV1(orderId, token);
    const { shared, publicKey } = this.currentAgreement();
    const random = freshRandom(SEAL_ID_HEX / 2 + ENTRY_SECRET_BYTES);
    const sealId = random.toString("hex", 0, SEAL_ID_HEX / 2);
    const entrySecret = random.subarray(SEAL_ID_HEX / 2);
    // Sealed before the await: the agreement may be replaced (and its secret wiped) meanwhile.
    const key = dataKey(shared, orderId, entrySecret);
    const sealed = sealWithKey(key, `${sealId}-${this.paymentKey.kid}`, token, orderId);
    const entry = `${publicKey}.${entrySecret.toString("base64")}`;
    key.fill(0);
    random.fill(0);
    await this.store.put(orderId, sealId, entry);
    return sealed;
  }

  /** v1: a key pair and an ECDH per token, the entry the ephemeral public key alone (info v1). */
  private async sealV1(orderId: string, token: string): Promise<string> {
    const ephemeral = generateKeyPairSync("x25519");
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: this.paymentKey.key });
    const sealId = freshRandom(SEAL_ID_HEX / 2).toString("hex");
    const key = dataKey(shared, orderId);
    shared.fill(0);
    const sealed = sealWithKey(key, `${sealId}-${this.paymentKey.kid}`, token, orderId);
    key.fill(0);
    await this.store.put(orderId, sealId, publicRawBase64(ephemeral.publicKey));
    return sealed;
  }

  /** The ephemeral agreement of this batch; a new key pair once it served its uses or its time. */
  private currentAgreement(): Agreement {
    const t = this.now();
    let agreement = this.agreement;
    if (!agreement || agreement.uses >= this.batchUses || t >= agreement.until) {
      agreement?.shared.fill(0);
      const ephemeral = generateKeyPairSync("x25519");
      const fresh: Agreement = {
        shared: diffieHellman({ privateKey: ephemeral.privateKey, publicKey: this.paymentKey.key }),
        publicKey: publicRawBase64(ephemeral.publicKey),
        uses: 0,
        until: t + this.batchMs,
      };
      agreement = this.agreement = fresh;
      // Wiped once its time is up even when no seal comes to replace it.
      setTimeout(() => {
        if (this.agreement !== fresh) return;
        fresh.shared.fill(0);
        this.agreement = undefined;
      }, this.batchMs).unref();
    }
    agreement.uses++;
    return agreement;
  }

  /**
   * Removes the key entry of one token `seal` wrote for the order, when that sealed token will
   * never be stored (the order service's request lost the race to create the order): the other
   * tokens of the order keep theirs. A string that is not a sealed token removes nothing.
   */
  async discard(orderId: string, sealed: string): Promise<void> {
    const parsed = sealParts(sealed);
    if (parsed) await this.store.remove(orderId, parsed.sealId);
  }

  /** Crypto-shredding: the order's tokens can no longer be opened by anyone. */
  shred(orderId: string): Promise<void> {
    return this.store.delete(orderId);
  }
}

/** A sealed token's seal id (its key entry's field) and key id; undefined if not sealed by `seal`. */
function sealParts(sealed: string): { sealId: string; kid: string } | undefined {
  const kidField = sealedKid(sealed);
  if (kidField === undefined || kidField[SEAL_ID_HEX] !== "-") return undefined;
  return { sealId: kidField.slice(0, SEAL_ID_HEX), kid: kidField.slice(SEAL_ID_HEX + 1) };
}

/**
 * How many batch agreements the payment service keeps, and for how long (ms), to open the other
 * tokens of a batch: the order service seals up to SEAL_BATCH.uses tokens with one ephemeral
 * agreement, and without this every open paid the same X25519 agreement again (~45 µs, the largest
 * part of an open). It does not weaken the shredding: a v2 token's data key also needs its own
 * entry secret, which only its order's key entry holds and which is never kept here; and the
 * process that holds these shared secrets holds the payment private key anyway. v1 tokens (a key
 * pair per token, no entry secret: the shared secret is all their key needs) are never kept.
 */
export const AGREEMENT_CACHE = { entries: 16, ms: 10_000 } as const;

interface CachedAgreement {
  shared: Buffer;
  until: number;
}

/** The payment service's side: opens sealed tokens while their order's key entry exists. */
export class TokenOpener {
  /** `<kid>.<ephemeral public>` → the batch's shared secret, oldest first (AGREEMENT_CACHE). */
  private readonly agreements = new Map<string, CachedAgreement>();
  private computed = 0;
  private readonly now: () => number;

  constructor(
    private readonly privateKeys: ReadonlyMap<string, KeyObject>,
    private readonly store: TokenKeyStore,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** X25519 agreements computed so far, and batch agreements held now (what the tests observe). */
  get agreementStats(): { computed: number; held: number } {
    return { computed: this.computed, held: this.agreements.size };
  }

  /** Throws DecryptionError: not sealed, unknown key, key entry gone (order ended), or altered. */
  async open(orderId: string, sealed: string): Promise<string> {
    return (await this.readKey(orderId, sealed)).open();
  }

  /**
   * The first half of `open`: checks the sealed token's form and key id and reads its order's key
   * entry (the one Redis read), without deriving a key or decrypting anything. The token is in
   * clear only once the returned `open()` is called, so a caller can read the entry ahead (with
   * other reads) and open the token only if it decides to use it. Throws DecryptionError: not
   * sealed, unknown key, key entry gone (order ended) or malformed; `open()` when altered.
   */
  async readKey(orderId: string, sealed: string): Promise<ReadTokenKey> {
    const parsed = sealParts(sealed);
    if (!parsed) throw new DecryptionError("not a sealed token");
    const { sealId, kid } = parsed;
    const privateKey = this.privateKeys.get(kid);
    if (!privateKey) throw new DecryptionError(`unknown payment token key "${kid}"`);
    const entry = await this.store.get(orderId, sealId);
    if (!entry) throw new TokenKeyGoneError(orderId);
    // v2 `<ephemeral public>.<entry secret>`; v1 the ephemeral public key alone.
    const [ephemeral = "", secret] = entry.split(".", 2);
    const entrySecret = secret === undefined ? undefined : Buffer.from(secret, "base64");
    const ephemeralRaw = Buffer.from(ephemeral, "base64");
    if (
      ephemeralRaw.length !== 32 ||
      (entrySecret !== undefined && entrySecret.length !== ENTRY_SECRET_BYTES)
    )
      throw new DecryptionError(`the token key entry of order ${orderId} is malformed`);
    return {
      open: () => {
        // Synchronous from here to the key: no other open can evict (and wipe) `shared` meanwhile.
        const shared =
          entrySecret === undefined
            ? this.agree(privateKey, ephemeralRaw)
            : this.batchAgreement(`${kid}.${ephemeral}`, privateKey, ephemeralRaw);
        const key = dataKey(shared, orderId, entrySecret);
        if (entrySecret === undefined) shared.fill(0);
        try {
          return openWithKey(key, sealed, orderId);
        } finally {
          key.fill(0);
        }
      },
    };
  }

  /** Throws DecryptionError when the entry's ephemeral key is a low-order point: a damaged or forged entry no retry mends. */
  private agree(privateKey: KeyObject, ephemeralRaw: Buffer): Buffer {
    this.computed++;
    const shared = agreement(privateKey, rawPublic(ephemeralRaw));
    if (!shared) throw new DecryptionError("the token key entry's ephemeral key gives no X25519 agreement");
    return shared;
  }

  /** A v2 batch's shared secret: kept AGREEMENT_CACHE.ms, at most AGREEMENT_CACHE.entries, wiped when dropped. */
  private batchAgreement(id: string, privateKey: KeyObject, ephemeralRaw: Buffer): Buffer {
    const t = this.now();
    const held = this.agreements.get(id);
    if (held && t < held.until) return held.shared;
    if (held) {
      held.shared.fill(0);
      this.agreements.delete(id);
    }
    const shared = this.agree(privateKey, ephemeralRaw);
    // Insertion order is age order: drop the expired and, past the bound, the oldest.
    for (const [key, entry] of this.agreements) {
      if (t < entry.until && this.agreements.size < AGREEMENT_CACHE.entries) break;
      entry.shared.fill(0);
      this.agreements.delete(key);
    }
    this.agreements.set(id, { shared, until: t + AGREEMENT_CACHE.ms });
    return shared;
  }
}

/**
 * The order's token key entry is absent: shredded when its saga ended (or never written). Still
 * DECRYPTION_FAILED; its own class so the payment service can tell "the saga ended" from a token
 * it cannot open (unknown key, malformed entry, altered bytes).
 */
export class TokenKeyGoneError extends DecryptionError {
  constructor(orderId: string) {
    super(`the token key of order ${orderId} is gone (shredded)`);
    this.name = "TokenKeyGoneError";
  }
}

/** A sealed token whose key entry was read (`TokenOpener.readKey`), not opened yet. */
export interface ReadTokenKey {
  /** Derives the token's key and decrypts it: the token in clear. Throws DecryptionError when altered. */
  open(): string;
}

/** A fresh payment token key pair in the environment format: [private list, public key]. */
export function generateTokenKeys(kid = `ptk-${randomBytes(3).toString("hex")}`): {
  [TOKEN_KEYS_ENV]: string;
  [TOKEN_PUBLIC_KEY_ENV]: string;
} {
  const pair = generateKeyPairSync("x25519");
  const priv = pair.privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  return {
    [TOKEN_KEYS_ENV]: `${kid}:${priv.toString("base64")}`,
    [TOKEN_PUBLIC_KEY_ENV]: `${kid}:${publicRaw(pair.publicKey).toString("base64")}`,
  };
}

let devKeys: ReturnType<typeof generateTokenKeys> | undefined;

/**
 * The token key settings of this process: the environment's, or (outside production, none set)
 * this process's ephemeral pair. Throws KeyConfigError in production when they are missing.
 */
export function tokenKeysFromEnv(
  env: NodeJS.ProcessEnv,
  need: typeof TOKEN_KEYS_ENV | typeof TOKEN_PUBLIC_KEY_ENV,
): string {
  const configured = env[need]?.trim();
  if (configured) return configured;
  if (env.NODE_ENV === "production")
    throw new KeyConfigError(`NODE_ENV=production needs ${need} (docs/security.md)`);
  devKeys ??= generateTokenKeys();
  return devKeys[need];
}

/** The order service's sealer from the environment (PAYMENT_TOKEN_PUBLIC_KEY). */
export function tokenSealerFromEnv(
  store: TokenKeyStore,
  env: NodeJS.ProcessEnv = process.env,
  options: TokenSealerOptions = {},
): TokenSealer {
  const [current] = parseEntries(tokenKeysFromEnv(env, TOKEN_PUBLIC_KEY_ENV), TOKEN_PUBLIC_KEY_ENV);
  return new TokenSealer(
    { kid: current!.kid, key: usablePublic(current!.kid, current!.raw) },
    store,
    options,
  );
}

/**
 * The payment public key of the setting, refused at start (KeyConfigError) when it is a low-order
 * point: otherwise every seal would fail, order after order (break46 F5). One trial agreement with
 * a throwaway key pair.
 */
function usablePublic(kid: string, raw: Buffer): KeyObject {
  const key = rawPublic(raw);
  const shared = agreement(generateKeyPairSync("x25519").privateKey, key);
  if (!shared)
    throw new KeyConfigError(
      `${TOKEN_PUBLIC_KEY_ENV}: key "${kid}" is not a usable X25519 public key (a low-order point; make one with scripts/generate-keys.ts)`,
    );
  shared.fill(0);
  return key;
}

/**
 * The simulated provider's card-fingerprint key (SimulatedProviderOptions.fingerprintKey), derived
 * from the payment service's current token private key (HKDF-SHA256, its own label: a separate key,
 * never the X25519 key itself): stable across the payment instances of a deployment, out of reach
 * of anyone who holds only Redis. Rotating the current token key changes the fingerprints.
 */
export function cardFingerprintKey(env: NodeJS.ProcessEnv = process.env): Buffer {
  const [current] = parseEntries(tokenKeysFromEnv(env, TOKEN_KEYS_ENV), TOKEN_KEYS_ENV);
  return hkdfSha256x32(current!.raw, "", Buffer.from("ordersaga simulated provider card fingerprint v1"));
}

/** The payment service's opener from the environment (PAYMENT_TOKEN_KEYS). */
export function tokenOpenerFromEnv(
  store: TokenKeyStore,
  env: NodeJS.ProcessEnv = process.env,
  options: { now?: () => number } = {},
): TokenOpener {
  const entries = parseEntries(tokenKeysFromEnv(env, TOKEN_KEYS_ENV), TOKEN_KEYS_ENV);
  return new TokenOpener(new Map(entries.map((e) => [e.kid, rawPrivate(e.raw)])), store, options);
}
