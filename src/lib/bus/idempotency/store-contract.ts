import { expect, it } from "vitest";
import { sleep } from "../../../test-support/wait.js";
import type { IdempotencyStore } from "./store.js";

/** Behaviour every idempotency store shares; `makeStore` gives a fresh, empty store. */
export function runIdempotencyStoreContract(makeStore: () => Promise<IdempotencyStore>): void {
  it("the first claim acquires; a claim while it runs is in progress; after completion it is processed", async () => {
    const store = await makeStore();
    const first = await store.claim("k1", 5_000);
    expect(first.status).toBe("acquired");
    expect((await store.claim("k1", 5_000)).status).toBe("in_progress");
    if (first.status === "acquired") await store.complete("k1", first.token, 60_000);
    expect((await store.claim("k1", 5_000)).status).toBe("processed");
  });

  it("a released claim can be acquired again at once", async () => {
    const store = await makeStore();
    const first = await store.claim("k2", 5_000);
    if (first.status !== "acquired") throw new Error("expected acquired");
    await store.release("k2", first.token);
    expect((await store.claim("k2", 5_000)).status).toBe("acquired");
  });

  it("releasing with a stale token does not free someone else's claim", async () => {
    const store = await makeStore();
    const first = await store.claim("k3", 50);
    if (first.status !== "acquired") throw new Error("expected acquired");
    await sleep(80); // the lease expired: a crashed handler
    const second = await store.claim("k3", 5_000);
    expect(second.status).toBe("acquired");
    await store.release("k3", first.token);
    expect((await store.claim("k3", 5_000)).status).toBe("in_progress");
  });

  it("extending a running claim keeps duplicates out past its first lease; a stale token cannot", async () => {
    const store = await makeStore();
    const first = await store.claim("k5", 200);
    if (first.status !== "acquired") throw new Error("expected acquired");
    expect(await store.extend("k5", first.token, 5_000)).toBe(true);
    await sleep(300); // past the first lease
    expect((await store.claim("k5", 5_000)).status).toBe("in_progress");
    expect(await store.extend("k5", "not-the-token", 5_000)).toBe(false);
    await store.complete("k5", first.token, 60_000);
    expect(await store.extend("k5", first.token, 5_000)).toBe(false);
  });

  it("of 20 concurrent claims on one key exactly one acquires", async () => {
    const store = await makeStore();
    const results = await Promise.all(Array.from({ length: 20 }, () => store.claim("k4", 5_000)));
    expect(results.filter((r) => r.status === "acquired")).toHaveLength(1);
  });
}
