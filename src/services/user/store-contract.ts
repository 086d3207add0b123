/**
 * The behaviour every user store adapter must have, run by the memory and the Redis test files:
 * atomic state + events, unique emails under concurrency, optimistic updates, tombstones, and one
 * validation answer per order.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { WriteDeadlineError } from "../../lib/redis/write-deadline.js";
import { newUser, type User, type UserStatus } from "./domain.js";
import type { UserStore } from "./store.js";

export interface UserStoreFixture {
  store: UserStore;
  /** Bodies emitted so far on a user-owned topic, in order. */
  emitted(topic: string): Promise<string[]>;
}

let seq = 0;
const message = (topic: string, owner = "user"): OutgoingMessage => {
  seq += 1;
  return { topic, owner, id: `m-${seq}`, body: `${topic}#${seq}` };
};

const user = (id: string, email: string): User =>
  newUser({ email, name: `Name ${id}` }, id, "2024-01-01T00:00:00.000Z");

export function runUserStoreContract(name: string, factory: () => Promise<UserStoreFixture>): void {
  describe(`user store contract: ${name}`, () => {
    let fx: UserStoreFixture;
    beforeEach(async () => {
      fx = await factory();
    });
    let probes = 0;
    /** The status a validation answer is written for (the store's only read of it), for a fresh order. */
    const statusOf = async (id: string): Promise<UserStatus | undefined> => {
      let written: UserStatus | undefined;
      probes += 1;
      await fx.store.answerValidation(`probe-${probes}`, id, (status) => {
        written = status;
        return [];
      });
      return written;
    };

    it("stores a created user at version 1 and emits its event with it", async () => {
      const created = message("user.created");
      expect(await fx.store.create(user("u1", "a@x.test"), [created])).toEqual({ ok: true });
      expect(await fx.store.get("u1")).toEqual({ user: user("u1", "a@x.test"), version: 1 });
      expect(await statusOf("u1")).toBe("active");
      expect(await fx.emitted("user.created")).toEqual([created.body]);
    });

    it("refuses a second user with a taken email and emits nothing for it", async () => {
      await fx.store.create(user("u1", "a@x.test"), [message("user.created")]);
      const result = await fx.store.create(user("u2", "a@x.test"), [message("user.created")]);
      expect(result).toEqual({ ok: false, code: "EMAIL_TAKEN" });
      expect(await fx.store.get("u2")).toBeUndefined();
      expect(await fx.emitted("user.created")).toHaveLength(1);
    });

    it("lets exactly one of many concurrent creates claim an email", async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          fx.store.create(user(`c${i}`, "same@x.test"), [message("user.created")]),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(await fx.emitted("user.created")).toHaveLength(1);
    });

    it("moves the email claim on update: the old email is free, the new one taken", async () => {
      await fx.store.create(user("u1", "old@x.test"), [message("user.created")]);
      const previous = (await fx.store.get("u1"))!;
      const next = { ...previous.user, email: "new@x.test" };
      expect(await fx.store.update(previous, next, [message("user.updated")])).toEqual({ ok: true });
      expect((await fx.store.get("u1"))?.version).toBe(2);
      expect((await fx.store.create(user("u2", "old@x.test"), [])).ok).toBe(true);
      expect(await fx.store.create(user("u3", "new@x.test"), [])).toEqual({ ok: false, code: "EMAIL_TAKEN" });
      expect(await fx.emitted("user.updated")).toHaveLength(1);
    });

    it("refuses an update to an email another user holds", async () => {
      await fx.store.create(user("u1", "a@x.test"), []);
      await fx.store.create(user("u2", "b@x.test"), []);
      const previous = (await fx.store.get("u2"))!;
      const result = await fx.store.update(previous, { ...previous.user, email: "a@x.test" }, [
        message("user.updated"),
      ]);
      expect(result).toEqual({ ok: false, code: "EMAIL_TAKEN" });
      expect((await fx.store.get("u2"))?.user.email).toBe("b@x.test");
      expect(await fx.emitted("user.updated")).toEqual([]);
    });

    it("refuses an update based on a stale version (no lost update)", async () => {
      await fx.store.create(user("u1", "a@x.test"), []);
      const stale = (await fx.store.get("u1"))!;
      await fx.store.update(stale, { ...stale.user, name: "First" }, [message("user.updated")]);
      const result = await fx.store.update(stale, { ...stale.user, name: "Second" }, [
        message("user.updated"),
      ]);
      expect(result).toEqual({ ok: false, code: "CONFLICT" });
      expect((await fx.store.get("u1"))?.user.name).toBe("First");
      expect(await fx.emitted("user.updated")).toHaveLength(1);
    });

    it("deletes a user: gone, email free again, id remembered as deleted", async () => {
      await fx.store.create(user("u1", "a@x.test"), []);
      expect(await fx.store.remove("u1", [message("user.deleted")])).toEqual({ ok: true });
      expect(await fx.store.get("u1")).toBeUndefined();
      expect(await statusOf("u1")).toBe("deleted");
      expect((await fx.store.create(user("u2", "a@x.test"), [])).ok).toBe(true);
      expect(await fx.store.remove("u1", [message("user.deleted")])).toEqual({
        ok: false,
        code: "NOT_FOUND",
      });
      expect(await fx.emitted("user.deleted")).toHaveLength(1);
    });

    // fixdl: a write given the gateway's deadline checks it in its atomic step (Redis `TIME` / the
    // memory store's clock): past it, nothing written, nothing emitted, a typed error.
    describe("a write past its deadline (applyBy)", () => {
      const past = () => Date.now() - 60_000;
      const future = () => Date.now() + 60_000;

      it("updates nothing", async () => {
        await fx.store.create(user("u1", "a@x.test"), []);
        const previous = (await fx.store.get("u1"))!;
        const next = { ...previous.user, name: "Late", email: "late@x.test" };
        await expect(
          fx.store.update(previous, next, [message("user.updated")], past()),
        ).rejects.toBeInstanceOf(WriteDeadlineError);
        expect(await fx.store.get("u1")).toEqual(previous);
        expect(await fx.emitted("user.updated")).toEqual([]);
        // The email claim did not move: the old one is still taken, the new one free.
        expect(await fx.store.create(user("u2", "a@x.test"), [])).toEqual({ ok: false, code: "EMAIL_TAKEN" });
        expect(await fx.store.update(previous, next, [message("user.updated")], future())).toEqual({
          ok: true,
        });
        expect((await fx.store.get("u1"))?.user.name).toBe("Late");
      });

      it("deletes nothing", async () => {
        await fx.store.create(user("u1", "a@x.test"), []);
        await expect(fx.store.remove("u1", [message("user.deleted")], past())).rejects.toBeInstanceOf(
          WriteDeadlineError,
        );
        expect((await fx.store.get("u1"))?.version).toBe(1);
        expect(await statusOf("u1")).toBe("active");
        expect(await fx.emitted("user.deleted")).toEqual([]);
        expect(await fx.store.remove("u1", [message("user.deleted")], future())).toEqual({ ok: true });
      });

      it("creates nothing and records no Idempotency-Key; a replay is still answered", async () => {
        const once = { key: "k-late", requestHash: "h1", ttlMs: 60_000 };
        await expect(
          fx.store.create(user("u1", "a@x.test"), [message("user.created")], once, past()),
        ).rejects.toBeInstanceOf(WriteDeadlineError);
        await expect(
          fx.store.create(user("u1", "a@x.test"), [message("user.created")], undefined, past()),
        ).rejects.toBeInstanceOf(WriteDeadlineError);
        expect(await fx.store.get("u1")).toBeUndefined();
        expect(await statusOf("u1")).toBe("missing");
        expect(await fx.emitted("user.created")).toEqual([]);
        expect(await fx.store.create(user("u1", "a@x.test"), [], once, future())).toEqual({ ok: true });
        expect(await fx.store.create(user("u9", "a@x.test"), [], once, past())).toEqual({
          ok: false,
          code: "REPLAYED",
          userId: "u1",
        });
      });
    });

    it("reports an unknown id as missing", async () => {
      expect(await statusOf("nobody")).toBe("missing");
      expect(await fx.store.get("nobody")).toBeUndefined();
    });

    it("answers an order's validation once: the second answer changes and emits nothing", async () => {
      const answer = () => [message("user.validated")];
      expect(await fx.store.answerValidation("o1", "nobody", answer)).toBe(true);
      expect(await fx.store.answerValidation("o1", "nobody", answer)).toBe(false);
      expect(await fx.store.answerValidation("o2", "nobody", answer)).toBe(true);
      expect(await fx.emitted("user.validated")).toHaveLength(2);
    });

    it("answers a validation with the user's status when it is written, once per order", async () => {
      const answer = (status: string): OutgoingMessage[] => [
        { ...message("user.validated"), body: `answer:${status}` },
      ];
      await fx.store.create(user("u1", "a@x.test"), [message("user.created")]);
      await fx.store.create(user("u2", "b@x.test"), [message("user.created")]);
      await fx.store.remove("u2", [message("user.deleted")]);
      expect(await fx.store.answerValidation("o1", "u1", answer)).toBe(true);
      expect(await fx.store.answerValidation("o2", "u2", answer)).toBe(true);
      expect(await fx.store.answerValidation("o3", "nobody", answer)).toBe(true);
      // A redelivery (even once the user is gone) changes and emits nothing.
      await fx.store.remove("u1", [message("user.deleted")]);
      expect(await fx.store.answerValidation("o1", "u1", answer)).toBe(false);
      expect(await fx.emitted("user.validated")).toEqual([
        "answer:active",
        "answer:deleted",
        "answer:missing",
      ]);
    });

    // break35 F2: the key's record is written with the user, in one atomic step, and checked first.
    it("records a create's Idempotency-Key with the user: the same key replays it, another request is refused", async () => {
      const once = { key: "{user}:idem:k1", requestHash: "h1", ttlMs: 60_000 };
      expect(await fx.store.create(user("u1", "a@x.test"), [message("user.created")], once)).toEqual({
        ok: true,
      });
      // A resend (another id minted, the same key and hash): nothing written, the first user named.
      expect(await fx.store.create(user("u2", "a@x.test"), [message("user.created")], once)).toEqual({
        ok: false,
        code: "REPLAYED",
        userId: "u1",
      });
      const other = { ...once, requestHash: "h2" };
      expect(await fx.store.create(user("u3", "c@x.test"), [message("user.created")], other)).toEqual({
        ok: false,
        code: "KEY_REUSED",
      });
      expect(await fx.store.get("u2")).toBeUndefined();
      expect(await fx.store.get("u3")).toBeUndefined();
      expect(await fx.emitted("user.created")).toHaveLength(1);
      // A refusal is kept under the key too: a late copy never creates, even once the email is free.
      const refused = { key: "{user}:idem:k2", requestHash: "h3", ttlMs: 60_000 };
      expect(await fx.store.create(user("u4", "a@x.test"), [], refused)).toEqual({
        ok: false,
        code: "EMAIL_TAKEN",
      });
      await fx.store.remove("u1", []);
      expect(await fx.store.create(user("u5", "a@x.test"), [], refused)).toEqual({
        ok: false,
        code: "EMAIL_TAKEN",
        replayed: true,
      });
      expect(await fx.store.get("u5")).toBeUndefined();
    });

    it("lets one of many concurrent keyed creates create; the others replay it", async () => {
      const once = { key: "{user}:idem:k-many", requestHash: "h", ttlMs: 60_000 };
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          fx.store.create(user(`c${i}`, "same@x.test"), [message("user.created")], once),
        ),
      );
      const created = results.findIndex((r) => r.ok);
      expect(created).toBeGreaterThanOrEqual(0);
      expect(results.filter((r) => !r.ok)).toEqual(
        Array(9).fill({ ok: false, code: "REPLAYED", userId: `c${created}` }),
      );
      expect(await fx.emitted("user.created")).toHaveLength(1);
    });

    it("refuses to write another service's events with its state", async () => {
      await expect(
        fx.store.create(user("u1", "a@x.test"), [message("order.placed", "order")]),
      ).rejects.toMatchObject({
        code: "FOREIGN_EVENT",
      });
      expect(await fx.store.get("u1")).toBeUndefined();
    });
  });
}
