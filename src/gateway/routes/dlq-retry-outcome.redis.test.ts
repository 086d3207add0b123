/**
 * break29 F2, F3 over real HTTP and a real Redis: a DLQ retry whose store stalls after the replay
 * was sent must not answer "nothing happened, retry shortly", must never leave a replay unaudited,
 * and concurrent retries of one record racing a purge are accepted once for one replay.
 *
 * The stall is a store wrapper holding one call (markRetried, update) until the test releases it:
 * the gateway's 1 s bound on each store call runs out meanwhile, as with a Redis stalled by a fork
 * or a busy script, and the held call then reaches Redis (it was issued) or is lost.
 */
import type { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { redeliverStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import type { DeadLetterStore } from "../../lib/dlq/dead-letter-store.js";
import { sampleDeadLetter } from "../../lib/dlq/store-contract.js";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { startTestGateway, type TestGateway } from "../test-upstream.js";

const path = (id: string) => `/dlq/${encodeURIComponent(id)}`;
const first = sampleDeadLetter("inventory|order.created|1-0", 1);
const second = sampleDeadLetter("inventory|order.created|2-0", 2);

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** Holds the next call of `method` until `release`; `lose` makes it fail without reaching Redis. */
function hold(store: DeadLetterStore, method: "markRetried" | "update") {
  const real = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
  let release!: (reach: boolean) => void;
  const gate = new Promise<boolean>((resolve) => (release = resolve));
  let settled: Promise<unknown> | undefined;
  (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
    (store as unknown as Record<string, unknown>)[method] = real; // only the next call is held
    settled = gate.then((reach) => (reach ? real(...args) : Promise.reject(new Error("lost"))));
    return settled;
  };
  return {
    release: () => release(true),
    lose: () => release(false),
    /** The held call's end (after `release`), whatever its outcome. */
    done: async () => {
      await waitFor(() => settled !== undefined, 5_000, `the held ${method}`);
      await settled?.catch(() => undefined);
    },
  };
}

describeWithRedis(
  "DLQ retries when the store stalls after the send, or a purge races them (break29)",
  (getRedis) => {
    let redis: Redis;
    let gw: TestGateway;
    beforeAll(() => {
      redis = getRedis().client();
    });
    beforeEach(async () => {
      await redis.flushall();
      gw = await startTestGateway({ platform: createRedisPlatform({ url: getRedis().url }) });
      for (const record of [first, second]) await gw.platform.deadLetters.add(record);
    });
    afterEach(async () => {
      await gw.stop();
    });

    async function call(method: string, url: string, body?: unknown): Promise<Answer> {
      const res = await fetch(`${gw.url}${url}`, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }
    const errorOf = (answer: Answer) =>
      answer.body.error as { code: string; details?: Record<string, unknown> };
    /** Replays the group got: entries of its redeliver stream. */
    const replays = () => redis.xlen(redeliverStreamKey("inventory"));
    async function trail(id: string) {
      const { status, body } = await call("GET", path(id));
      const audit = (status === 200 ? body.audit : errorOf({ status, body }).details?.audit) as {
        action: string;
        detail?: string;
      }[];
      return { record: body.record as { status: string; retries: number } | undefined, audit };
    }
    const retriedEntries = async (id: string) =>
      (await trail(id)).audit.filter((e) => e.action === "retried").length;

    it("answers 504 DLQ_RETRY_OUTCOME_UNKNOWN, not 503 'retry shortly', when the mark stalls after the send; the late mark lands with its audit entry (F3)", async () => {
      const held = hold(gw.platform.deadLetters, "markRetried");
      const answer = await call("POST", `${path(first.id)}/retry`, { detail: "opA" });
      expect({ status: answer.status, code: errorOf(answer).code }).toEqual({
        status: 504,
        code: "DLQ_RETRY_OUTCOME_UNKNOWN",
      });
      expect(errorOf(answer).details).toEqual({ outcome: "unknown", ids: [first.id] });
      expect(await replays()).toBe(1);

      held.release(); // the store comes back: the mark issued before the timeout runs
      await held.done();
      const { record, audit } = await trail(first.id);
      expect(record).toMatchObject({ status: "retried", retries: 1 });
      // The replay has its audit entry: the mark and the entry are one step.
      expect(audit.map((e) => [e.action, e.detail])).toEqual([["retried", "opA"]]);
      expect(await replays()).toBe(1);
    });

    it("a retry after an unknown outcome whose mark was lost sends the same replay, which the group gets once (F3)", async () => {
      const held = hold(gw.platform.deadLetters, "markRetried");
      const pending = call("POST", `${path(first.id)}/retry`);
      await waitFor(async () => (await replays()) === 1, 5_000, "the replay");
      held.lose();
      const answer = await pending;
      expect({ status: answer.status, code: errorOf(answer).code }).toEqual({
        status: 504,
        code: "DLQ_RETRY_OUTCOME_UNKNOWN",
      });
      // The operator reads the record, as told: unchanged, so it retries.
      expect((await trail(first.id)).record).toMatchObject({ status: "dead", retries: 0 });
      const again = await call("POST", `${path(first.id)}/retry`);
      expect(again.status).toBe(200);
      expect(await replays()).toBe(1);
      expect(await retriedEntries(first.id)).toBe(1);
    });

    it("a bulk retry whose marks stall answers 504 with the ids sent, and every replay is audited (F3)", async () => {
      const held = hold(gw.platform.deadLetters, "markRetried");
      const answer = await call("POST", "/dlq/retry", {
        ids: [first.id, "inventory|order.created|9-0", second.id],
      });
      expect({ status: answer.status, code: errorOf(answer).code }).toEqual({
        status: 504,
        code: "DLQ_RETRY_OUTCOME_UNKNOWN",
      });
      expect(errorOf(answer).details).toMatchObject({
        outcome: "unknown",
        ids: [first.id, second.id],
        retried: [],
        failed: [{ id: "inventory|order.created|9-0", error: { code: "DLQ_NOT_FOUND" } }],
      });
      held.release();
      await held.done();
      expect(await replays()).toBe(2);
      for (const id of [first.id, second.id]) {
        expect((await trail(id)).record).toMatchObject({ status: "retried", retries: 1 });
        expect(await retriedEntries(id)).toBe(1);
      }
    });

    it("an archive whose write stalls is audited when the write lands, and asking again keeps one entry (F3)", async () => {
      const held = hold(gw.platform.deadLetters, "update");
      const answer = await call("POST", `${path(first.id)}/archive`, { detail: "INC-7" });
      expect(answer.status).toBe(503); // nothing or everything happened: asking again is safe
      held.release();
      await held.done();
      expect((await call("POST", `${path(first.id)}/archive`)).status).toBe(200);
      const { record, audit } = await trail(first.id);
      expect(record).toMatchObject({ status: "archived" });
      expect(audit.map((e) => [e.action, e.detail])).toEqual([["archived", "INC-7"]]);
    });

    it("of two retries of one record racing a purge, one is accepted and audited for the one replay (F2)", async () => {
      // Both retries read retries 0 and send replay #1; A marks it, the purge deletes the record,
      // then B comes to mark the same replay.
      const store = gw.platform.deadLetters;
      const markRetried = store.markRetried.bind(store);
      let arrived = 0;
      let purged = false;
      store.markRetried = async (changes) => {
        const mine = ++arrived;
        await waitFor(() => arrived >= 2, 5_000, "both retries at their mark");
        if (mine === 2) await waitFor(() => purged, 5_000, "the purge");
        return markRetried(changes);
      };
      const a = call("POST", `${path(first.id)}/retry`, { detail: "opA" });
      const b = call("POST", `${path(first.id)}/retry`, { detail: "opB" });
      const answerA = await Promise.race([a, b]);
      expect(answerA.status).toBe(200);
      expect((await call("DELETE", path(first.id))).status).toBe(200);
      purged = true;
      const answers = await Promise.all([a, b]);
      expect(answers.map((x) => x.status).sort()).toEqual([200, 409]);
      expect(errorOf(answers.find((x) => x.status === 409)!).code).toBe("DLQ_RETRY_CONFLICT");
      expect(await replays()).toBe(1);
      const { audit } = await trail(first.id);
      expect(audit.map((e) => e.action)).toEqual(["retried", "purged"]);
    });
  },
);
