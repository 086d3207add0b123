/** GET /notifications over real HTTP: pages with a cursor, and names a bad parameter. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../lib/http/server.js";
import type { NotificationRecord } from "./domain.js";
import { notificationRoutes } from "./routes.js";
import { MemoryNotificationStore } from "./store.js";

const app = createHttpServer();
let url = "";

beforeAll(async () => {
  const store = new MemoryNotificationStore(async () => {});
  for (let i = 1; i <= 5; i++) {
    const record: NotificationRecord = {
      notificationId: `n${i}`,
      userId: "u1",
      channel: "email",
      template: "order.confirmed",
      orderId: "o1",
      // n4 and n5 share a millisecond: the page order breaks the tie by id.
      createdAt: `2024-01-01T00:00:0${Math.min(i, 4)}.000Z`,
      status: "sent",
    };
    await store.beginAll([{ key: `k${i}`, record }]);
  }
  notificationRoutes(store)(app);
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  await app.close();
});

type Page = { notifications: { notificationId: string }[]; nextCursor?: string };

describe("GET /notifications", () => {
  it("pages newest first with nextCursor until the last page", async () => {
    const seen: string[][] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${url}/notifications?userId=u1&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      const page = (await res.json()) as Page;
      seen.push(page.notifications.map((n) => n.notificationId));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual([["n5", "n4"], ["n3", "n2"], ["n1"]]);
  });

  it("names a bad parameter and its format", async () => {
    const res = await fetch(`${url}/notifications?userId=u1&limit=0`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { details: { path: string; message: string }[] } };
    expect(body.error.details[0]).toEqual({
      path: "query:limit",
      message: "limit: an integer from 1 to 500",
    });
  });
});
