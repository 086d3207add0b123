import { describe, expect, it } from "vitest";
import type { DeadLetterRecord } from "../../lib/dlq/dead-letter-store.js";
import { waitFor } from "../../test-support/wait.js";
import { deadLetter, useDlqGateway } from "./test-dead-letters.js";

const record = (deliveryId: string, deadLetteredAt: string, event = "order.placed") =>
  deadLetter({ deliveryId, deadLetteredAt, event, body: `{"broken":${deliveryId.length}` });

const first = record("1-0", "2024-01-01T00:00:00.000Z");
const second = record("2-0", "2024-06-01T00:00:00.000Z", "order.cancelled");
const path = (id: string) => `/dlq/${encodeURIComponent(id)}`;

const dlq = useDlqGateway([first, second]);
const { call, received } = dlq;

describe("gateway: dead-letter operations", () => {
  it("lists records newest first, filtered by event, group and status", async () => {
    const all = await call("GET", "/dlq");
    expect((all.body.items as DeadLetterRecord[]).map((r) => r.id)).toEqual([second.id, first.id]);
    const byEvent = await call("GET", "/dlq?event=order.placed&group=payment&status=dead&limit=10");
    expect((byEvent.body.items as DeadLetterRecord[]).map((r) => r.id)).toEqual([first.id]);
    expect((await call("GET", "/dlq?status=bogus")).status).toBe(400);
  });

  it("inspects one record (id URL-encoded) with its audit trail, 404 when unknown", async () => {
    const found = await call("GET", path(first.id));
    expect(found.status).toBe(200);
    expect(found.body.record).toMatchObject({ id: first.id, reason: "invalid envelope" });
    expect(found.body.audit).toEqual([]);
    expect((await call("GET", path("nope|x|1"))).status).toBe(404);
  });

  it("retries a record: redelivered to its group, marked retried and audited", async () => {
    const res = await call("POST", `${path(first.id)}/retry`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: first.id, status: "retried", retries: 1 });
    await waitFor(() => received.includes(first.body), 2_000, "redelivery");
    const inspected = await call("GET", path(first.id));
    expect((inspected.body.audit as { action: string; actor: string }[])[0]).toMatchObject({
      action: "retried",
      actor: "anonymous",
    });
    expect((await call("POST", `${path("nope|x|1")}/retry`)).status).toBe(404);
  });

  it("archives a record, after which a retry is refused with 409", async () => {
    const archived = await call("POST", `${path(first.id)}/archive`, { detail: "ticket-42" });
    expect(archived.status).toBe(200);
    expect(archived.body.status).toBe("archived");
    const retry = await call("POST", `${path(first.id)}/retry`);
    expect(retry.status).toBe(409);
    expect((retry.body.error as { code: string }).code).toBe("DLQ_ARCHIVED");
    expect(received).toEqual([]);
  });

  it("refuses each archived record a bulk retry by filter matches (DLQ_ARCHIVED), sending nothing", async () => {
    expect((await call("POST", `${path(first.id)}/archive`)).status).toBe(200);
    const res = await call("POST", "/dlq/retry", { status: "archived" });
    expect(res.status).toBe(200);
    expect(res.body.retried).toEqual([]);
    expect(res.body.failed).toMatchObject([{ id: first.id, error: { code: "DLQ_ARCHIVED" } }]);
    expect(await dlq.gw.platform.deadLetters.get(first.id)).toMatchObject({ status: "archived", retries: 0 });
    const audit = (await call("GET", path(first.id))).body.audit as { action: string }[];
    expect(audit.map((e) => e.action)).toEqual(["archived"]);
    expect(received).toEqual([]);
  });

  it("retries in bulk by filter or by ids", async () => {
    const byFilter = await call("POST", "/dlq/retry", { event: "order.cancelled" });
    expect(byFilter.body).toEqual({ retried: [second.id], failed: [] });
    const byIds = await call("POST", "/dlq/retry", { ids: [first.id, "nope|x|1"] });
    expect(byIds.body.retried).toEqual([first.id]);
    expect((byIds.body.failed as { id: string }[]).map((f) => f.id)).toEqual(["nope|x|1"]);
    await waitFor(() => received.length === 2, 2_000, "both redeliveries");
  });

  it("refuses a bulk retry that names ids and filter fields at once, naming the filter fields (break13 F6)", async () => {
    const mixed = await call("POST", "/dlq/retry", {
      ids: [first.id],
      group: "inventory",
      status: "archived",
      detail: "INC-1",
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error).toMatchObject({ code: "VALIDATION_FAILED" });
    const paths = (mixed.body.error as { details: { path: string; message: string }[] }).details;
    expect(paths.map((d) => d.path).sort()).toEqual(["group", "status"]);
    expect(paths[0]?.message).toContain("either ids or a filter");
    // A filter in the query with ids in the body is the same mix.
    const inQuery = await call("POST", "/dlq/retry?event=order.placed", { ids: [first.id] });
    expect(inQuery.status).toBe(400);
    expect((inQuery.body.error as { details: { path: string }[] }).details.map((d) => d.path)).toEqual([
      "query:event",
    ]);
    expect(await dlq.gw.platform.deadLetters.get(first.id)).toMatchObject({ status: "dead", retries: 0 });
    expect(received).toEqual([]);
  });

  it("answers concurrent retries of one record: one 200 and one replay, the others 409 DLQ_RETRY_CONFLICT (break13 F1)", async () => {
    const N = 6;
    // Holds every retry at its mark until all N have read the record and sent their replay: the
    // overlap of N operators' clicks, made certain.
    const store = dlq.gw.platform.deadLetters;
    const markRetried = store.markRetried.bind(store);
    let arrived = 0;
    store.markRetried = async (changes) => {
      arrived++;
      await waitFor(() => arrived >= N, 10_000, "every retry at its mark");
      return markRetried(changes);
    };
    const answers = await Promise.all(
      Array.from({ length: N }, () => call("POST", `${path(first.id)}/retry`)),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    for (const a of answers.filter((x) => x.status === 409))
      expect((a.body.error as { code: string }).code).toBe("DLQ_RETRY_CONFLICT");
    const inspected = await call("GET", path(first.id));
    expect(inspected.body.record).toMatchObject({ status: "retried", retries: 1 });
    expect((inspected.body.audit as { action: string }[]).map((e) => e.action)).toEqual(["retried"]);
    await waitFor(() => received.length >= 1, 2_000, "the replay");
    expect(received).toEqual([first.body]);
  });

  it("purges records older than a time, and requires that time", async () => {
    expect((await call("DELETE", "/dlq")).status).toBe(400);
    const purged = await call("DELETE", "/dlq?olderThan=2024-03-01T00:00:00.000Z");
    expect(purged.body).toEqual({ purged: [first.id] });
    expect((await call("GET", "/dlq")).body.items).toHaveLength(1);
  });
});

describe("gateway: dead-letter listing, pages and time filters", () => {
  const ids = (res: { body: Record<string, unknown> }) =>
    (res.body.items as DeadLetterRecord[]).map((r) => r.id);

  it("compares time filters as instants whatever the bounds' UTC offset", async () => {
    // first: 2024-01-01T00:00Z, second: 2024-06-01T00:00Z.
    const from = await call("GET", `/dlq?from=${encodeURIComponent("2023-12-31T20:00:00-05:00")}`);
    expect(ids(from)).toEqual([second.id]);
    const to = await call("GET", `/dlq?to=${encodeURIComponent("2023-12-31T23:30:00-05:00")}`);
    expect(ids(to)).toEqual([first.id]);
  });

  it("accepts ISO 8601 instants without seconds in time filters", async () => {
    const from = await call("GET", `/dlq?from=${encodeURIComponent("2023-12-31T20:00-05:00")}`);
    expect(from.status).toBe(200);
    expect(ids(from)).toEqual([second.id]);
    const to = await call("GET", `/dlq?to=${encodeURIComponent("2024-01-01T03:30+02:00")}`);
    expect(ids(to)).toEqual([first.id]);
    const purge = await call("DELETE", `/dlq?olderThan=${encodeURIComponent("2023-01-01T08:00-05:00")}`);
    expect(purge.status).toBe(200);
    expect(purge.body).toEqual({ purged: [] });
  });

  it("pages with a cursor: nextCursor while more follow, then none", async () => {
    const page1 = await call("GET", "/dlq?limit=1");
    expect(ids(page1)).toEqual([second.id]);
    expect(typeof page1.body.nextCursor).toBe("string");
    const page2 = await call("GET", `/dlq?limit=1&cursor=${String(page1.body.nextCursor)}`);
    expect(ids(page2)).toEqual([first.id]);
    const page3 = await call("GET", `/dlq?limit=1&cursor=${String(page2.body.nextCursor)}`);
    expect(ids(page3)).toEqual([]);
    expect(page3.body.nextCursor).toBeUndefined();
  });

  it("names the query parameter and its format in a 400", async () => {
    for (const [url, param, format] of [
      ["/dlq?olderThan=abc", "query:olderThan", /ISO 8601.*epoch milliseconds/],
      ["/dlq?from=yesterday", "query:from", /ISO 8601/],
      ["/dlq?limit=0", "query:limit", /1 to 1000/],
      ["/dlq?cursor=zzz", "query:cursor", /nextCursor/],
    ] as const) {
      const res = await call(url.startsWith("/dlq?olderThan") ? "DELETE" : "GET", url);
      expect(res.status).toBe(400);
      const details = (res.body.error as { details: { path: string; message: string }[] }).details;
      expect(details[0]?.path).toBe(param);
      expect(details[0]?.message).toMatch(format);
    }
  });

  // New-user F2: the 400 offered 2024-01-01T14:00+02:00, which pasted into a URL arrives with a
  // space for the "+" and is refused again. The example it gives now works as typed in a URL.
  it("suggests in a 400 a time that works pasted into a URL as is", async () => {
    const refused = await call("GET", "/dlq?from=2024-01-01T14:00+02:00");
    expect(refused.status).toBe(400);
    const message = (refused.body.error as { details: { message: string }[] }).details[0]!.message;
    expect(message).toContain("%2B");
    const examples = message.match(/\d{4}-\d\d-\d\dT[^\s;,)]+/g) ?? [];
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const example of examples) {
      expect((await call("GET", `/dlq?from=${example}`)).status, example).toBe(200);
    }
  });

  // break12 F1: the body's limit reused the query string's schema, so every JSON number was refused.
  it("takes a bulk retry's body limit as a JSON integer (a decimal string still works), and names it in a 400", async () => {
    const byNumber = await call("POST", "/dlq/retry", { status: "dead", limit: 1 });
    expect(byNumber.status).toBe(200);
    // More dead records follow: a cursor to go on with (break17 F7).
    expect(byNumber.body).toEqual({ retried: [first.id], failed: [], nextCursor: expect.any(String) });
    const byString = await call("POST", "/dlq/retry", { status: "dead", limit: "1" });
    expect(byString.body).toEqual({ retried: [second.id], failed: [] });
    for (const limit of [0, 1001, 1.5, "1e2", null]) {
      const refused = await call("POST", "/dlq/retry", { status: "dead", limit });
      expect(refused.status, JSON.stringify(limit)).toBe(400);
      expect((refused.body.error as { details: unknown[] }).details).toEqual([
        { path: "limit", message: "limit: an integer from 1 to 1000" },
      ]);
    }
    await waitFor(() => received.length === 2, 2_000, "both redeliveries");
  });
});

describe("secrets in dead-lettered bodies", () => {
  it("are redacted in what operators see, and kept for the retry", async () => {
    const secret = {
      ...record("9-0", "2024-07-01T00:00:00.000Z", "order.placed"),
      body: JSON.stringify({ payload: { orderId: "o-1", paymentToken: "tok_ok" } }),
    };
    await dlq.gw.platform.deadLetters.add(secret);
    const listed = await call("GET", "/dlq?limit=10");
    expect(JSON.stringify(listed.body)).not.toContain("tok_ok");
    const inspected = await call("GET", path(secret.id));
    expect((inspected.body.record as { body: string }).body).toContain('"paymentToken":"[REDACTED]"');
    expect((await call("POST", `${path(secret.id)}/retry`)).status).toBe(200);
    await waitFor(() => received.find((b) => b.includes("tok_ok")), 5_000, "original body redelivered");
  });
});
