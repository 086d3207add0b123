/**
 * Envelope signing: HMAC-SHA256 over the exact encoded envelope, with the key id, appended as the
 * envelope's last field:
 *
 *   {"id":…,"event":…,…,"payload":{…},"sig":"<kid>.<43 chars base64url MAC>"}
 *
 * The MAC covers every byte of the encoded envelope before `,"sig"` (id, event, version, time,
 * source, correlation, causation, idempotency key, trace context, attributes and payload), so the
 * canonical encoding is the producer's own bytes: the consumer verifies the body it received
 * before parsing it, with no re-encoding (one HMAC per message on each side). Changing any byte,
 * e.g. the order id of a copied entry, fails verification.
 *
 * Why HMAC and not Ed25519: see docs/security.md ("Why HMAC-SHA256"): the bus handles ~50,000
 * messages/s per core; an Ed25519 verify costs more than the whole per-message budget.
 */
import { BusError } from "../bus/errors.js";
import { TAG_LENGTH } from "./hmac.js";
import type { Keyring, ServiceKey } from "./keyring.js";

/** A message whose signature is missing, malformed, made with an unknown key, or wrong. */
export class SignatureInvalidError extends BusError {
  constructor(reason: string) {
    super("SIGNATURE_INVALID", `signature invalid: ${reason}`);
    this.name = "SignatureInvalidError";
  }
}

/** A correctly signed message whose signer is not the event's owning service. */
export class WrongProducerError extends BusError {
  constructor(event: string, signer: string, owner: string) {
    super("WRONG_PRODUCER", `"${event}" is owned by "${owner}" but was signed by "${signer}"`);
    this.name = "WrongProducerError";
  }
}

/** Appends the signature field to an encoded envelope (a JSON object ending in `}`). */
export interface EnvelopeSigner {
  /** @param owner the event's owning service (only signers that sign *as* the owner use it: tests). */
  sign(body: string, owner: string): string;
  /**
   * True when its keys were made up in this process (an auto-generating keyring: BUS_SIGNING_KEYS
   * unset outside production): no other process can verify what it signs.
   */
  readonly ephemeral?: boolean;
}

/** Checks a received body; throws SignatureInvalidError or WrongProducerError. */
export interface EnvelopeVerifier {
  /** @returns the signing service. */
  verify(body: string, event: string, owner: string): string;
  /** True when its keys were made up in this process: it verifies no other process's messages. */
  readonly ephemeral?: boolean;
}

const SIG_FIELD = ',"sig":"';
const MAX_KID = 32;
const DOT = 0x2e;
const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;
/** The key id and tag alphabet (base64url: `[A-Za-z0-9_-]`), by character code. */
const BASE64URL = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
  BASE64URL[c.charCodeAt(0)] = 1;

/** Whether `text[from, to)` is all base64url characters. */
function base64url(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (BASE64URL[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Signs with `service`'s current key. Throws when the keyring has none for it. */
export function createSigner(keyring: Keyring, service: string): EnvelopeSigner {
  const current = keyring.current(service);
  if (!current) throw new SignatureConfigError(service);
  const { mac } = current;
  const field = `${SIG_FIELD}${current.kid}.`;
  return {
    ephemeral: keyring.autoGenerate,
    sign(body) {
      return `${body.slice(0, -1)}${field}${mac.tag(body)}"}`;
    },
  };
}

/** Tests and simulations only: signs each message as its event's owner. */
export function createOwnerSigner(keyring: Keyring): EnvelopeSigner {
  const signers = new Map<string, EnvelopeSigner>();
  return {
    sign(body, owner) {
      let signer = signers.get(owner);
      if (!signer) signers.set(owner, (signer = createSigner(keyring, owner)));
      return signer.sign(body, owner);
    },
  };
}

export class SignatureConfigError extends Error {
  readonly code = "INVALID_KEY_CONFIG";
  constructor(service: string) {
    super(`no signing key for service "${service}" (set BUS_SIGNING_KEYS or BUS_SIGNING_KEYS_FILE)`);
    this.name = "SignatureConfigError";
  }
}

/**
 * Verifies with any key of the keyring, then that the key's service owns the event. Once per
 * received message, so the tail is read from the end in place (no search over the body, no
 * substring) and the key is found by comparing its id in place with the keys already seen.
 */
export function createVerifier(keyring: Keyring): EnvelopeVerifier {
  /**
   * Keys this verifier has resolved (a few: one or two per producer). Safe to keep because a
   * keyring only grows and a kid never changes key; if keys could ever be removed from a live
   * keyring, this cache would have to be dropped with them (a retired kid must stop verifying).
   */
  const seen: ServiceKey[] = [];
  const known = (body: string, kidAt: number, kidLength: number): ServiceKey | undefined => {
    for (const key of seen) if (key.kid.length === kidLength && body.startsWith(key.kid, kidAt)) return key;
    const key = keyring.byKid(body.slice(kidAt, kidAt + kidLength));
    if (key) seen.push(key);
    return key;
  };
  return {
    ephemeral: keyring.autoGenerate,
    verify(body, event, owner) {
      // The signature is the last field, `,"sig":"<kid>.<tag>"}`: the tag has a fixed length, the
      // key id is the run of base64url characters before the dot, and `,"sig":"` must precede it.
      const quote = body.length - 2;
      const tagAt = quote - TAG_LENGTH;
      const dot = tagAt - 1;
      let kidAt = dot;
      while (dot - kidAt <= MAX_KID && kidAt > 0 && BASE64URL[body.charCodeAt(kidAt - 1)] === 1) kidAt--;
      const at = kidAt - SIG_FIELD.length;
      if (
        at < 0 ||
        kidAt === dot ||
        dot - kidAt > MAX_KID ||
        body.charCodeAt(dot) !== DOT ||
        body.charCodeAt(quote) !== QUOTE ||
        body.charCodeAt(quote + 1) !== CLOSE_BRACE ||
        !body.startsWith(SIG_FIELD, at) ||
        !base64url(body, tagAt, quote)
      )
        // Only a rejected message pays for the search that tells the two reasons apart.
        throw new SignatureInvalidError(body.includes(SIG_FIELD) ? "malformed" : "unsigned");
      const key = known(body, kidAt, dot - kidAt);
      if (!key) throw new SignatureInvalidError(`unknown key id "${body.slice(kidAt, dot)}"`);
      // The MAC covers the body before `,"sig"` and its closing `}`; the tail checked is ASCII.
      if (!key.mac.matchesTail(body, at, CLOSE_BRACE, tagAt))
        throw new SignatureInvalidError(`bad MAC (key "${key.kid}")`);
      if (key.service !== owner) throw new WrongProducerError(event, key.service, owner);
      return key.service;
    },
  };
}
