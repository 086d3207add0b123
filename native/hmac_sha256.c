/*
 * The optional native addon: HMAC-SHA256 from precomputed key midstates, and the payment token's
 * HKDF-SHA256 and AES-256-GCM, all on the OpenSSL that Node.js itself links and exports.
 *
 * HMAC-SHA256 (RFC 2104) from precomputed key midstates, on the OpenSSL that Node.js itself links
 * and exports (Node 20: OpenSSL 3.0; SHA-NI or AVX2 block functions chosen at OpenSSL's start-up).
 *
 * Why native: Node's crypto offers HMAC only as a stream object per call (`createHmac`, ~2 µs) or
 * two one-shot `crypto.hash` calls per MAC, each making, initialising and freeing a digest context
 * (~0.23 µs per call before the first block). Here the two padded key blocks are absorbed once per
 * key (`prepare`); each MAC copies the two 112-byte states and hashes only the message and the
 * inner digest: no allocation, no context set-up. The result is the same MAC byte for byte
 * (hmac.test.ts checks it against createHmac and RFC 4231's vectors).
 *
 * prepare(paddedKey: Buffer of 64 bytes, the key zero-padded per RFC 2104) -> Buffer (two states)
 * tag(state: Buffer, data: Buffer, start: uint32, end: uint32) -> string: the MAC of data[start,end)
 *   as 43 base64url characters (no padding). Throws TypeError on a wrong type or a state that is not
 *   prepare()'s, RangeError unless start and end are whole numbers with 0 <= start <= end <= length.
 *
 * Why HKDF and AES-GCM too: Node 20 offers them only through `createHmac` and `createCipheriv`, which
 * make a stream object and an OpenSSL context per call and look the algorithm up again each time
 * (OpenSSL 3's implicit fetch): ~5 µs per HMAC and ~9 µs per AES-GCM seal on a slow machine, several
 * times that when the bus's other work keeps them cold (BENCHMARKS.md, "What signing and encryption
 * cost"). Here AES-256-GCM is fetched once per process and each call makes and frees one cipher
 * context; HKDF's two HMACs run on SHA-256 directly. The results are byte for byte Node's
 * (native-crypto.test.ts checks them against hkdfSync and createCipheriv/createDecipheriv):
 *
 * hkdf32(ikm: Buffer, salt: Buffer, info: Buffer, out: Buffer of 32) -> undefined: writes
 *   HKDF-SHA256(ikm, salt, info) with L = 32 (RFC 5869: PRK = HMAC(salt, ikm), T(1) = HMAC(PRK,
 *   info || 0x01)) into out. No key material is left in the addon's memory.
 * gcmSeal(key: Buffer of 32, iv: Buffer of 12, plaintext: Buffer, aad: Buffer, out: Buffer of
 *   plaintext.length + 16) -> undefined: writes the AES-256-GCM ciphertext and its 16-byte tag.
 * gcmOpen(key: Buffer of 32, iv: Buffer of 12, ciphertext: Buffer, tag: Buffer of 16, aad: Buffer,
 *   out: Buffer of ciphertext.length) -> boolean: whether the tag matched. The plaintext is
 *   decrypted into memory of the addon's own and copied to out only once the tag matched: when it
 *   did not, out is zeroed and never held a byte of the unauthenticated plaintext (not even for a
 *   moment another thread could read through shared memory).
 * All throw TypeError on a wrong type or length (inputs over 2^31 - 1 bytes included) and when out
 * partly overlaps the plaintext or ciphertext (the same start, in place, is allowed: EVP supports
 * it), and Error when OpenSSL fails (AES-256-GCM unavailable, say): the loader then falls back to
 * Node's crypto.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <math.h>
#include <node_api.h>
#include <limits.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#define BLOCK 64
#define STATE_BYTES (2 * sizeof(SHA256_CTX))

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", message);
  return NULL;
}

static int buffer_arg(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static napi_value prepare(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  unsigned char *key;
  size_t key_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "prepare(paddedKey)");
  if (!buffer_arg(env, argv[0], &key, &key_length) || key_length != BLOCK) return fail(env, "paddedKey must be a 64-byte Buffer");
  unsigned char pad[BLOCK];
  SHA256_CTX states[2];
  for (int i = 0; i < BLOCK; i++) pad[i] = key[i] ^ 0x36;
  SHA256_Init(&states[0]);
  SHA256_Update(&states[0], pad, BLOCK);
  for (int i = 0; i < BLOCK; i++) pad[i] = key[i] ^ 0x5c;
  SHA256_Init(&states[1]);
  SHA256_Update(&states[1], pad, BLOCK);
  OPENSSL_cleanse(pad, sizeof pad);
  napi_value result;
  void *copy;
  napi_status status = napi_create_buffer_copy(env, STATE_BYTES, states, &copy, &result);
  /* OPENSSL_cleanse, not memset: a compiler drops a memset of a local it sees die (break40 F3). */
  OPENSSL_cleanse(states, sizeof states);
  return status == napi_ok ? result : NULL;
}

static napi_value tag(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  unsigned char *state, *data;
  size_t state_length, data_length;
  double start, end;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return fail(env, "tag(state, data, start, end)");
  if (!buffer_arg(env, argv[0], &state, &state_length) || state_length != STATE_BYTES) return fail(env, "state must come from prepare()");
  if (!buffer_arg(env, argv[1], &data, &data_length)) return fail(env, "data must be a Buffer");
  if (napi_get_value_double(env, argv[2], &start) != napi_ok || napi_get_value_double(env, argv[3], &end) != napi_ok) return fail(env, "start and end must be numbers");
  /* Whole numbers within the data, not ToUint32's wrapping (NaN, Infinity, 2^32 read as 0: break40 F8). */
  if (!(start >= 0) || !(start <= end) || !(end <= (double)data_length) || start != floor(start) || end != floor(end)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "start <= end <= data.length is required");
    return NULL;
  }
  SHA256_CTX ctx, outer;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  memcpy(&ctx, state, sizeof ctx);
  memcpy(&outer, state + sizeof ctx, sizeof outer);
  /* A state from prepare() has absorbed exactly one block: nothing buffered. SHA256_Update indexes
   * its block buffer by `num`, so a state edited or forged in JavaScript is refused, not trusted. */
  if (ctx.num != 0 || outer.num != 0 || ctx.md_len != SHA256_DIGEST_LENGTH || outer.md_len != SHA256_DIGEST_LENGTH)
    return fail(env, "state must come from prepare()");
  SHA256_Update(&ctx, data + (size_t)start, (size_t)end - (size_t)start);
  SHA256_Final(digest, &ctx);
  SHA256_Update(&outer, digest, SHA256_DIGEST_LENGTH);
  SHA256_Final(digest, &outer);
  OPENSSL_cleanse(&ctx, sizeof ctx);
  OPENSSL_cleanse(&outer, sizeof outer);
  /* base64url without padding: 32 bytes -> 43 characters (10 groups of 3 bytes, then 2 bytes). */
  char text[44];
  int o = 0, i = 0;
  for (; i + 3 <= SHA256_DIGEST_LENGTH; i += 3) {
    uint32_t v = ((uint32_t)digest[i] << 16) | ((uint32_t)digest[i + 1] << 8) | digest[i + 2];
    text[o++] = B64URL[(v >> 18) & 63];
    text[o++] = B64URL[(v >> 12) & 63];
    text[o++] = B64URL[(v >> 6) & 63];
    text[o++] = B64URL[v & 63];
  }
  uint32_t v = ((uint32_t)digest[i] << 16) | ((uint32_t)digest[i + 1] << 8);
  text[o++] = B64URL[(v >> 18) & 63];
  text[o++] = B64URL[(v >> 12) & 63];
  text[o++] = B64URL[(v >> 6) & 63];
  napi_value result;
  if (napi_create_string_latin1(env, text, o, &result) != napi_ok) return NULL;
  return result;
}

/* ---- HKDF-SHA256 and AES-256-GCM ---------------------------------------------------------------- */

/* A Buffer argument of `want` bytes (any length when want < 0), at most INT_MAX bytes (OpenSSL's int). */
static int sized_arg(napi_env env, napi_value value, unsigned char **data, size_t *length, long want) {
  static unsigned char empty[1];
  if (!buffer_arg(env, value, data, length) || *length > INT_MAX) return 0;
  if (want >= 0 && *length != (size_t)want) return 0;
  /* A zero-length Buffer may have no backing store: OpenSSL gets a valid pointer all the same. */
  if (*data == NULL) *data = empty;
  return 1;
}

/* Whether [a, a + a_length) and [b, b + b_length) share a byte without starting at the same place:
 * AES-GCM's output written over input it has not read yet gives a wrong value with a valid tag. */
static int partial_overlap(const unsigned char *a, size_t a_length, const unsigned char *b, size_t b_length) {
  if (a == b || a_length == 0 || b_length == 0) return 0;
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y + b_length && y < x + a_length;
}

/* HMAC-SHA256 of the concatenation of up to two parts, under a key of any length (RFC 2104). */
static void hmac2(const unsigned char *key, size_t key_length, const unsigned char *a, size_t a_length,
                  const unsigned char *b, size_t b_length, unsigned char out[SHA256_DIGEST_LENGTH]) {
  unsigned char block[BLOCK], inner[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  memset(block, 0, sizeof block);
  if (key_length > BLOCK) SHA256(key, key_length, block);
  else memcpy(block, key, key_length);
  for (int i = 0; i < BLOCK; i++) block[i] ^= 0x36;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, block, BLOCK);
  SHA256_Update(&ctx, a, a_length);
  if (b_length) SHA256_Update(&ctx, b, b_length);
  SHA256_Final(inner, &ctx);
  for (int i = 0; i < BLOCK; i++) block[i] ^= 0x36 ^ 0x5c;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, block, BLOCK);
  SHA256_Update(&ctx, inner, sizeof inner);
  SHA256_Final(out, &ctx);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(inner, sizeof inner);
  OPENSSL_cleanse(&ctx, sizeof ctx);
}

static napi_value hkdf32(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  unsigned char *ikm, *salt, *label, *out;
  size_t ikm_length, salt_length, label_length, out_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return fail(env, "hkdf32(ikm, salt, info, out)");
  if (!sized_arg(env, argv[0], &ikm, &ikm_length, -1) || !sized_arg(env, argv[1], &salt, &salt_length, -1) ||
      !sized_arg(env, argv[2], &label, &label_length, -1))
    return fail(env, "ikm, salt and info must be Buffers");
  if (!sized_arg(env, argv[3], &out, &out_length, SHA256_DIGEST_LENGTH)) return fail(env, "out must be a 32-byte Buffer");
  static const unsigned char one = 1;
  unsigned char prk[SHA256_DIGEST_LENGTH];
  hmac2(salt, salt_length, ikm, ikm_length, NULL, 0, prk);
  hmac2(prk, sizeof prk, label, label_length, &one, 1, out);
  OPENSSL_cleanse(prk, sizeof prk);
  return NULL;
}

#define GCM_KEY 32
#define GCM_IV 12
#define GCM_TAG 16

/* AES-256-GCM, fetched once per process (OpenSSL 3: an algorithm named per call is looked up per call). */
static EVP_CIPHER *aes256gcm;

static napi_value openssl_error(napi_env env, EVP_CIPHER_CTX *ctx) {
  EVP_CIPHER_CTX_free(ctx);
  napi_throw_error(env, "ERR_OPENSSL", "AES-256-GCM failed in OpenSSL");
  return NULL;
}

static napi_value gcm_seal(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  unsigned char *key, *iv, *plain, *aad, *out;
  size_t key_length, iv_length, plain_length, aad_length, out_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return fail(env, "gcmSeal(key, iv, plaintext, aad, out)");
  if (!sized_arg(env, argv[0], &key, &key_length, GCM_KEY)) return fail(env, "key must be a 32-byte Buffer");
  if (!sized_arg(env, argv[1], &iv, &iv_length, GCM_IV)) return fail(env, "iv must be a 12-byte Buffer");
  if (!sized_arg(env, argv[2], &plain, &plain_length, -1) || !sized_arg(env, argv[3], &aad, &aad_length, -1)) return fail(env, "plaintext and aad must be Buffers");
  if (plain_length > INT_MAX - GCM_TAG || !sized_arg(env, argv[4], &out, &out_length, (long)plain_length + GCM_TAG)) return fail(env, "out must be a Buffer of plaintext.length + 16 bytes");
  if (partial_overlap(out, out_length, plain, plain_length)) return fail(env, "out must not partly overlap the plaintext");
  if (!aes256gcm) return openssl_error(env, NULL);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int length = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx, aes256gcm, key, iv, NULL) != 1 ||
      (aad_length && EVP_EncryptUpdate(ctx, NULL, &length, aad, (int)aad_length) != 1) ||
      (plain_length && EVP_EncryptUpdate(ctx, out, &length, plain, (int)plain_length) != 1) ||
      EVP_EncryptFinal_ex(ctx, out + plain_length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, GCM_TAG, out + plain_length) != 1)
    return openssl_error(env, ctx);
  EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
  return NULL;
}

static napi_value gcm_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  unsigned char *key, *iv, *sealed, *tag, *aad, *out;
  size_t key_length, iv_length, sealed_length, tag_length, aad_length, out_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return fail(env, "gcmOpen(key, iv, ciphertext, tag, aad, out)");
  if (!sized_arg(env, argv[0], &key, &key_length, GCM_KEY)) return fail(env, "key must be a 32-byte Buffer");
  if (!sized_arg(env, argv[1], &iv, &iv_length, GCM_IV)) return fail(env, "iv must be a 12-byte Buffer");
  if (!sized_arg(env, argv[2], &sealed, &sealed_length, -1)) return fail(env, "ciphertext must be a Buffer");
  if (!sized_arg(env, argv[3], &tag, &tag_length, GCM_TAG)) return fail(env, "tag must be a 16-byte Buffer");
  if (!sized_arg(env, argv[4], &aad, &aad_length, -1)) return fail(env, "aad must be a Buffer");
  if (!sized_arg(env, argv[5], &out, &out_length, (long)sealed_length)) return fail(env, "out must be a Buffer of ciphertext.length bytes");
  if (partial_overlap(out, out_length, sealed, sealed_length)) return fail(env, "out must not partly overlap the ciphertext");
  if (!aes256gcm) return openssl_error(env, NULL);
  unsigned char expected[GCM_TAG];
  memcpy(expected, tag, GCM_TAG);
  /* Decrypted here first: out gets the plaintext only once the tag matched. */
  unsigned char small[256];
  unsigned char *clear = sealed_length <= sizeof small ? small : malloc(sealed_length);
  if (!clear) {
    napi_throw_error(env, "ERR_MEMORY", "out of memory");
    return NULL;
  }
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int length = 0;
  bool ready = ctx && EVP_DecryptInit_ex2(ctx, aes256gcm, key, iv, NULL) == 1 &&
               (!aad_length || EVP_DecryptUpdate(ctx, NULL, &length, aad, (int)aad_length) == 1) &&
               (!sealed_length || EVP_DecryptUpdate(ctx, clear, &length, sealed, (int)sealed_length) == 1) &&
               EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, GCM_TAG, expected) == 1;
  /* The tag is checked here; a mismatch is an answer (false), not an error. */
  bool matched = ready && EVP_DecryptFinal_ex(ctx, clear + sealed_length, &length) == 1;
  if (matched) memcpy(out, clear, sealed_length);
  else OPENSSL_cleanse(out, sealed_length);
  OPENSSL_cleanse(clear, sealed_length);
  if (clear != small) free(clear);
  if (!ready) return openssl_error(env, ctx);
  EVP_CIPHER_CTX_free(ctx);
  napi_value result;
  if (napi_get_boolean(env, matched, &result) != napi_ok) return NULL;
  return result;
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

NAPI_MODULE_INIT() {
  /* Once per process; a second fetch (a worker thread loading at the same moment) only leaks a reference. */
  if (!aes256gcm) aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  if (!export_function(env, exports, "prepare", prepare) || !export_function(env, exports, "tag", tag) ||
      !export_function(env, exports, "hkdf32", hkdf32) || !export_function(env, exports, "gcmSeal", gcm_seal) ||
      !export_function(env, exports, "gcmOpen", gcm_open))
    return NULL;
  return exports;
}
