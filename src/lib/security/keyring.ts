/**
 * Per-service secret keys with key ids (`kid`), for envelope signing (HMAC-SHA256). Each service
 * signs with its *current* key (the first one listed for it) and consumers verify with any listed
 * key of the event's owning service, so a key rotates without downtime: add the new key first on
 * every consumer, then make it current on the producer, then drop the old one once no message
 * signed with it is still in a stream (docs/security.md, "Key management").
 *
 * Text format (env `BUS_SIGNING_KEYS`, or the file named by `BUS_SIGNING_KEYS_FILE`): entries
 * `<service>:<kid>:<base64 secret of at least 32 bytes>` separated by commas, spaces or newlines;
 * lines starting with `#` are comments. Kids are unique across services (a kid names one key).
 */
import { createHmac, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { HmacSha256 } from "./hmac.js";

/** One secret of one service. */
export interface ServiceKey {
  service: string;
  /** Key id carried on every signed envelope: 1-32 of `[A-Za-z0-9_-]`. */
  kid: string;
  /** The secret as a KeyObject. */
  key: KeyObject;
  /** HMAC-SHA256 under this key, padded once (signing.ts: one per message on each side). */
  mac: HmacSha256;
}

export const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const SERVICE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
/**
 * How a bad key entry is named in an error: its position (1-based) and field count, and its service
 * when that is a valid service name; never its text, which may hold the secret (break44 F1).
 */
export function keyEntry(index: number, fields: number, service?: string): string {
  const of = service === undefined ? "" : ` (service "${service}")`;
  return `key entry ${index + 1}${of}, ${fields} field${fields === 1 ? "" : "s"} separated by ":" (not shown: it may hold a secret)`;
}

/** HMAC-SHA256 keys shorter than the hash add no strength and are a sign of a typo. */
export const MIN_SECRET_BYTES = 32;

export class KeyConfigError extends Error {
  readonly code = "INVALID_KEY_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "KeyConfigError";
  }
}

export class Keyring {
  private readonly byKidMap = new Map<string, ServiceKey & { secret: Buffer }>();
  private readonly currentMap = new Map<string, ServiceKey & { secret: Buffer }>();

  /**
   * @param autoGenerate development only: a service with no key gets a fresh random one on first
   *   use (ephemeral, per process). Never set from configuration.
   */
  constructor(
    entries: readonly { service: string; kid: string; secret: Buffer }[] = [],
    readonly autoGenerate = false,
  ) {
    for (const entry of entries) this.add(entry.service, entry.kid, entry.secret);
  }

  /**
   * Parses the text format above. Throws KeyConfigError naming the bad entry by its position and
   * shape, never by its text: a key pasted without its id puts the secret where the id goes
   * (break44 F1).
   */
  static parse(text: string): Keyring {
    const entries: { service: string; kid: string; secret: Buffer }[] = [];
    const lines = text.split("\n").filter((line) => !line.trim().startsWith("#"));
    const items = lines
      .join(" ")
      .split(/[\s,]+/)
      .filter(Boolean);
    for (const [index, item] of items.entries()) {
      const fields = item.split(":");
      const [service = "", kid = "", secret = ""] = fields;
      // The service is named only when it cannot be a secret: a secret of MIN_SECRET_BYTES is longer.
      const named = fields.length > 1 && service.length <= 32 && SERVICE_PATTERN.test(service);
      const where = keyEntry(index, fields.length, named ? service : undefined);
      if (fields.length > 3 || !SERVICE_PATTERN.test(service) || !KID_PATTERN.test(kid))
        throw new KeyConfigError(`${where}: expected <service>:<kid>:<base64 secret>`);
      const bytes = Buffer.from(secret, "base64");
      if (bytes.length < MIN_SECRET_BYTES)
        throw new KeyConfigError(`${where}: secret must be at least ${MIN_SECRET_BYTES} bytes (base64)`);
      entries.push({ service, kid, secret: bytes });
    }
    if (entries.length === 0) throw new KeyConfigError("no keys in the key list");
    return new Keyring(entries);
  }

  /** A fresh random key per service (dev, tests, and the launcher's children). */
  static generate(services: readonly string[], autoGenerate = false): Keyring {
    const ring = new Keyring([], autoGenerate);
    for (const service of services) ring.ensure(service);
    return ring;
  }

  /** Adds a key; the first key added for a service is its current (signing) key. */
  add(service: string, kid: string, secret: Buffer): void {
    if (this.byKidMap.has(kid)) throw new KeyConfigError(`duplicate kid "${kid}"`);
    const entry = { service, kid, key: createSecretKey(secret), mac: new HmacSha256(secret), secret };
    this.byKidMap.set(kid, entry);
    if (!this.currentMap.has(service)) this.currentMap.set(service, entry);
  }

  /** Makes sure `service` has a key (generating one when it has none). */
  ensure(service: string): ServiceKey {
    const existing = this.currentMap.get(service);
    if (existing) return existing;
    this.add(service, `${service}-${randomBytes(4).toString("hex")}`, randomBytes(32));
    return this.currentMap.get(service)!;
  }

  /** The key `service` signs with, or undefined (generated in an auto-generating dev keyring). */
  current(service: string): ServiceKey | undefined {
    return this.currentMap.get(service) ?? (this.autoGenerate ? this.ensure(service) : undefined);
  }

  byKid(kid: string): ServiceKey | undefined {
    return this.byKidMap.get(kid);
  }

  services(): string[] {
    return [...this.currentMap.keys()];
  }

  /** Every key held, current or kept for verifying (no secret: ServiceKey holds a KeyObject). */
  keys(): ServiceKey[] {
    return [...this.byKidMap.values()].map(({ service, kid, key, mac }) => ({ service, kid, key, mac }));
  }

  /**
   * The keys of `services` only (current keys stay current): what one process may hold, its own
   * signing key and the keys of the producers it verifies (docs/security.md, "Key distribution").
   */
  subset(services: Iterable<string>): Keyring {
    const wanted = new Set(services);
    const current = new Set(this.currentMap.values());
    const entries = [...this.byKidMap.values()].filter((e) => wanted.has(e.service));
    const ordered = [...entries.filter((e) => current.has(e)), ...entries.filter((e) => !current.has(e))];
    return new Keyring(ordered.map(({ service, kid, secret }) => ({ service, kid, secret })));
  }

  /** The text format, current keys first: what the launcher hands its children. Contains secrets. */
  serialize(): string {
    const entries = [...this.byKidMap.values()];
    const current = new Set(this.currentMap.values());
    const ordered = [...entries.filter((e) => current.has(e)), ...entries.filter((e) => !current.has(e))];
    return ordered.map((e) => `${e.service}:${e.kid}:${e.secret.toString("base64")}`).join(",");
  }
}

const PRINT_LABEL = "ordersaga signing key print v1";

/**
 * A key's public print, `<kid>:<16 hex digits>` (of an HMAC-SHA256 of a fixed label under the
 * secret; nothing secret): what an instance advertises in its registry entry as the key it signs
 * with, so `--add-instances` can refuse keys that are not the running system's (newuser10 F0).
 */
export function signingKeyPrint(key: ServiceKey): string {
  return `${key.kid}:${createHmac("sha256", key.key).update(PRINT_LABEL).digest("hex").slice(0, 16)}`;
}

/** The registry metadata field in which an instance advertises its signingKeyPrint. */
export const SIGNING_KEY_METADATA = "signingKey";

/**
 * The registry metadata field in which an instance advertises every key it holds (so verifies),
 * `<service>:<kid>:<print>` joined by commas (heldKeysPrint): `--add-instances` refuses processes
 * that would sign with a key the running consumers of their events do not hold (newuser14 F2).
 */
export const HELD_KEYS_METADATA = "heldKeys";

/** Every key of `ring`, `<service>:<signingKeyPrint>` joined by commas (HELD_KEYS_METADATA; nothing secret). */
export function heldKeysPrint(ring: Keyring): string {
  return ring
    .keys()
    .map((key) => `${key.service}:${signingKeyPrint(key)}`)
    .join(",");
}

/** The keys a heldKeysPrint names: service and print (`<kid>:<16 hex>`) of each; malformed parts skipped. */
export function parseHeldKeys(text: string): { service: string; print: string }[] {
  return text.split(",").flatMap((part) => {
    const [service, kid, hex, ...rest] = part.split(":");
    return service && kid && hex && rest.length === 0 ? [{ service, print: `${kid}:${hex}` }] : [];
  });
}
