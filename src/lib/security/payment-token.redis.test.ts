import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import {
  generateTokenKeys,
  RedisTokenKeyStore,
  TOKEN_KEY_TTL_MS,
  tokenKeyKey,
  tokenOpenerFromEnv,
  tokenSealerFromEnv,
} from "./payment-token.js";

describeWithRedis("RedisTokenKeyStore", (getRedis) => {
  const env = { ...generateTokenKeys("pay-r"), NODE_ENV: "production" };

  it("keeps each seal's ephemeral public key under the order with the backstop TTL", async () => {
    const redis = getRedis().client();
    const store = new RedisTokenKeyStore(redis);
    await store.put("o-ttl", "aaaaaaaaaaaa", "k1");
    await store.put("o-ttl", "bbbbbbbbbbbb", "k2");
    expect(await redis.hgetall(tokenKeyKey("o-ttl"))).toEqual({ aaaaaaaaaaaa: "k1", bbbbbbbbbbbb: "k2" });
    const ttl = await redis.pttl(tokenKeyKey("o-ttl"));
    expect(ttl).toBeGreaterThan(TOKEN_KEY_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(TOKEN_KEY_TTL_MS);
  });

  it("a token sealed over Redis opens for the payment service until the order is shredded", async () => {
    const store = new RedisTokenKeyStore(getRedis().client());
    const sealer = tokenSealerFromEnv(store, env);
    const sealed = await sealer.seal("o-open", "tok_ok_redis");
    const sealId = sealed.slice(5, 17);
    // The raw 32-byte X25519 public key and the 32-byte entry secret, standard base64 both.
    expect(await store.get("o-open", sealId)).toMatch(/^[A-Za-z0-9+/]{43}=\.[A-Za-z0-9+/]{43}=$/);
    const opener = tokenOpenerFromEnv(store, env);
    await expect(opener.open("o-open", sealed)).resolves.toBe("tok_ok_redis");
    await sealer.shred("o-open");
    await expect(opener.open("o-open", sealed)).rejects.toThrow(/shredded/);
  });
});
