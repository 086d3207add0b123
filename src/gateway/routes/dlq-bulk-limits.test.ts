/**
 * break17 F7: `POST /dlq/retry {}` retried 20,000 records in one request (an answer of 909 KB, the
 * gateway's memory up 43 MB) and one purge deleted 20,300 in 15.6 s. A bulk retry or purge by
 * filter now does one share per request (`limit`, default 100, at most 1,000, at most 5,000
 * records examined) and answers `nextCursor` while more may match.
 */
import { describe, expect, it } from "vitest";
import type { DeadLetterRecord } from "../../lib/dlq/dead-letter-store.js";
import { waitFor } from "../../test-support/wait.js";
import { deadLetter, useDlqGateway } from "./test-dead-letters.js";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");

/** The i-th record: dead-lettered i seconds after T0, so ids in order are oldest first. */
const record = (i: number, event?: string): DeadLetterRecord =>
  deadLetter({
    deliveryId: `${T0 + i * 1_000}-0`,
    deadLetteredAt: new Date(T0 + i * 1_000).toISOString(),
    body: `{"n":${i}}`,
    ...(event ? { event } : {}),
  });

const dlq = useDlqGateway();
const { call, received } = dlq;

async function seed(count: number, event?: string, from = 0): Promise<DeadLetterRecord[]> {
  const records = Array.from({ length: count }, (_, i) => record(from + i, event));
  await dlq.seed(records);
  return records;
}

const detailsOf = (res: { body: Record<string, unknown> }) =>
  (res.body.error as { details: { path: string; message: string }[] }).details;

describe("gateway: DLQ bulk operations a share per request (break17 F7)", () => {
  it("retries a filter's records 100 per request by default, oldest first, going on with nextCursor until none, each once", async () => {
    const records = await seed(250);
    const ids = records.map((r) => r.id);
    const first = await call("POST", "/dlq/retry", {});
    expect(first.status).toBe(200);
    expect(first.body.retried).toEqual(ids.slice(0, 100));
    expect(first.body.failed).toEqual([]);
    expect(typeof first.body.nextCursor).toBe("string");
    // The cursor in the query works as in the body.
    const second = await call("POST", `/dlq/retry?cursor=${String(first.body.nextCursor)}`);
    expect(second.body.retried).toEqual(ids.slice(100, 200));
    const last = await call("POST", "/dlq/retry", { cursor: second.body.nextCursor, limit: 1_000 });
    expect(last.body).toEqual({ retried: ids.slice(200), failed: [] });
    for (const id of [ids[0]!, ids[149]!, ids[249]!])
      expect(await dlq.gw.platform.deadLetters.get(id)).toMatchObject({ status: "retried", retries: 1 });
    await waitFor(() => received.length === 250, 10_000, "every replay");
    // Nothing dead is left: a new run finds nothing.
    expect((await call("POST", "/dlq/retry", {})).body).toEqual({ retried: [], failed: [] });
  });

  it("purges 100 records per request by default, up to limit 1000, going on with nextCursor until none", async () => {
    const records = await seed(250);
    const olderThan = encodeURIComponent(new Date(T0 + 1_000_000).toISOString());
    const first = await call("DELETE", `/dlq?olderThan=${olderThan}`);
    expect(first.status).toBe(200);
    expect(first.body.purged).toEqual(records.slice(0, 100).map((r) => r.id));
    expect(typeof first.body.nextCursor).toBe("string");
    const rest = await call(
      "DELETE",
      `/dlq?olderThan=${olderThan}&limit=1000&cursor=${String(first.body.nextCursor)}`,
    );
    expect(rest.body).toEqual({ purged: records.slice(100).map((r) => r.id) });
    expect((await call("GET", "/dlq")).body.items).toEqual([]);
  });

  it("examines at most 5,000 records per request: a rare filter answers a cursor, and the next request goes on", async () => {
    await seed(5_050);
    const [rare] = await seed(1, "order.cancelled", 5_050);
    const first = await call("POST", "/dlq/retry", { event: "order.cancelled" });
    expect(first.body.retried).toEqual([]);
    expect(typeof first.body.nextCursor).toBe("string");
    const next = await call("POST", "/dlq/retry", {
      event: "order.cancelled",
      cursor: first.body.nextCursor,
    });
    expect(next.body).toEqual({ retried: [rare!.id], failed: [] });
  }, 30_000);

  it("refuses a limit over 1000 or a cursor it did not issue, naming the field (400), and ids with a cursor", async () => {
    await seed(3);
    for (const [method, url, body, path] of [
      ["POST", "/dlq/retry?limit=1001", undefined, "query:limit"],
      ["POST", "/dlq/retry", { limit: 5_000 }, "limit"],
      ["POST", "/dlq/retry", { cursor: "zzz" }, "cursor"],
      ["DELETE", "/dlq?olderThan=2030-01-01T00:00Z&limit=1001", undefined, "query:limit"],
      ["DELETE", "/dlq?olderThan=2030-01-01T00:00Z&cursor=zzz", undefined, "query:cursor"],
    ] as const) {
      const res = await call(method, url, body);
      expect(res.status, url).toBe(400);
      expect(detailsOf(res)[0]?.path, url).toBe(path);
    }
    const cursor = (await call("POST", "/dlq/retry", { limit: 1 })).body.nextCursor;
    const mixed = await call("POST", "/dlq/retry", { ids: [record(2).id], cursor });
    expect(mixed.status).toBe(400);
    expect(detailsOf(mixed).map((d) => d.path)).toEqual(["cursor"]);
    expect(await dlq.gw.platform.deadLetters.get(record(2).id)).toMatchObject({ status: "dead" });
    // Nothing was purged by the refused requests.
    expect((await call("GET", "/dlq")).body.items).toHaveLength(3);
  });
});
