/**
 * The behaviour every notification store adapter must have, run by the memory and the Redis test
 * files: the contact projection's ordering rules, first-claim-wins records, one outcome (and one
 * event) per notification, and the newest-first queries.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { Contact, NotificationRecord } from "./domain.js";
import { type NotificationStore, ownClaims } from "./store.js";

export interface NotificationStoreFixture {
  store: NotificationStore;
  /** Bodies emitted so far on a notification-owned topic, in order. */
  emitted(topic: string): Promise<string[]>;
}

let seq = 0;
const message = (topic = "notification.sent", owner = "notification"): OutgoingMessage => {
  seq += 1;
  return { topic, owner, id: `m-${seq}`, body: `${topic}#${seq}` };
};

const contact = (name = "Ann"): Contact => ({
  userId: "u1",
  name,
  email: "ann@x.test",
  preferences: { email: true, push: true, sms: false },
});

const record = (id: string, over: Partial<NotificationRecord> = {}): NotificationRecord => ({
  notificationId: id,
  userId: "u1",
  channel: "email",
  template: "order.confirmed",
  orderId: "o1",
  createdAt: "2024-01-01T00:00:00.000Z",
  status: "sending",
  ...over,
});

export function runNotificationStoreContract(
  name: string,
  factory: () => Promise<NotificationStoreFixture>,
): void {
  describe(`notification store contract: ${name}`, () => {
    let fx: NotificationStoreFixture;
    beforeEach(async () => {
      fx = await factory();
    });
    // The contract's one-record steps, through the batch calls the service makes.
    const contactOf = async (userId: string) => (await fx.store.beginForContact(userId, [])).contact;
    const begin = async (key: string, rec: NotificationRecord): Promise<NotificationRecord> =>
      (await fx.store.beginAll([{ key, record: rec }]))[0]!;
    const finish = async (key: string, rec: NotificationRecord, messages: OutgoingMessage[]) =>
      (await fx.store.finishAll([{ key, record: rec, messages }]))[0];

    describe("contact projection", () => {
      it("keeps a created contact, and knows nothing of other users", async () => {
        expect(await fx.store.applyContact({ kind: "created", at: 10, contact: contact() })).toBe(true);
        expect(await contactOf("u1")).toEqual({ at: 10, contact: contact(), deleted: false });
        expect(await contactOf("u2")).toBeUndefined();
      });

      it("applies newer updates and ignores older ones and late creations", async () => {
        await fx.store.applyContact({ kind: "updated", at: 20, contact: contact("Newer") });
        expect(await fx.store.applyContact({ kind: "created", at: 10, contact: contact("Created") })).toBe(
          false,
        );
        expect(await fx.store.applyContact({ kind: "updated", at: 15, contact: contact("Older") })).toBe(
          false,
        );
        expect(await fx.store.applyContact({ kind: "updated", at: 30, contact: contact("Newest") })).toBe(
          true,
        );
        expect((await contactOf("u1"))?.contact?.name).toBe("Newest");
      });

      it("keeps a deletion final, even against later-arriving events", async () => {
        await fx.store.applyContact({ kind: "created", at: 10, contact: contact() });
        expect(await fx.store.applyContact({ kind: "deleted", at: 20, userId: "u1" })).toBe(true);
        expect(await fx.store.applyContact({ kind: "updated", at: 30, contact: contact("Late") })).toBe(
          false,
        );
        expect(await fx.store.applyContact({ kind: "created", at: 5, contact: contact() })).toBe(false);
        expect(await contactOf("u1")).toEqual({ at: 20, deleted: true });
      });

      // break35 F7: dates come from the publishing instance's clock, which follows backward steps;
      // the user record's version is the order of its writes.
      it("orders a user's changes by the record's version, not by their dates (break35 F7)", async () => {
        const phoned = {
          ...contact(),
          phone: "+1 555 0142",
          preferences: { email: true, push: true, sms: true },
        };
        const optedOut = { ...contact("Opted out"), preferences: { email: true, push: true, sms: false } };
        await fx.store.applyContact({ kind: "created", at: 1_000, version: 1, contact: phoned });
        // Written after a 1 h backward step: dated earlier, yet the newer write.
        expect(await fx.store.applyContact({ kind: "updated", at: 400, version: 2, contact: optedOut })).toBe(
          true,
        );
        expect(await contactOf("u1")).toEqual({ at: 400, version: 2, contact: optedOut, deleted: false });
        // An older write dated later (a redelivery, or another instance's clock ahead) is not applied,
        // nor a redelivery of the one applied.
        expect(await fx.store.applyContact({ kind: "updated", at: 2_000, version: 1, contact: phoned })).toBe(
          false,
        );
        expect(await fx.store.applyContact({ kind: "updated", at: 400, version: 2, contact: phoned })).toBe(
          false,
        );
        expect((await contactOf("u1"))?.contact).toEqual(optedOut);
        const claim = await fx.store.beginForContact("u1", [
          { key: "order.confirmed:o1:sms", record: record("o1-sms", { channel: "sms" }) },
        ]);
        expect(claim.records).toEqual([]);
      });

      it("orders two changes of one millisecond by version, whichever arrives last", async () => {
        await fx.store.applyContact({ kind: "created", at: 10, version: 1, contact: contact() });
        await fx.store.applyContact({ kind: "updated", at: 20, version: 3, contact: contact("Third") });
        expect(
          await fx.store.applyContact({ kind: "updated", at: 20, version: 2, contact: contact("Second") }),
        ).toBe(false);
        expect((await contactOf("u1"))?.contact?.name).toBe("Third");
      });

      it("falls back to dates only when a side has no version, and keeps deletion final", async () => {
        // An event from before versions (in a stream or the DLQ) against a versioned contact: by date.
        await fx.store.applyContact({ kind: "created", at: 10, version: 1, contact: contact() });
        expect(await fx.store.applyContact({ kind: "updated", at: 5, contact: contact("Old") })).toBe(false);
        expect(
          await fx.store.applyContact({ kind: "updated", at: 30, contact: contact("Unversioned") }),
        ).toBe(true);
        expect(await contactOf("u1")).toEqual({ at: 30, contact: contact("Unversioned"), deleted: false });
        // The contact applied has no version: a versioned change is compared by date too.
        expect(
          await fx.store.applyContact({ kind: "updated", at: 25, version: 9, contact: contact("V9") }),
        ).toBe(false);
        expect(
          await fx.store.applyContact({ kind: "updated", at: 40, version: 9, contact: contact("V9") }),
        ).toBe(true);
        expect(await fx.store.applyContact({ kind: "deleted", at: 1, userId: "u1" })).toBe(true);
        expect(
          await fx.store.applyContact({ kind: "updated", at: 50, version: 10, contact: contact("Late") }),
        ).toBe(false);
        expect(await contactOf("u1")).toEqual({ at: 1, deleted: true });
      });
    });

    describe("notification records", () => {
      it("lets the first claim of a dedupe key win; later claims get that record", async () => {
        expect(await begin("k1", record("n1"))).toEqual(record("n1"));
        expect(await begin("k1", record("n2"))).toEqual(record("n1"));
        expect(await fx.store.list({ userId: "u1", limit: 10 })).toEqual([record("n1")]);
      });

      it("finishes a sending notification once, emitting its event with the outcome", async () => {
        await begin("k1", record("n1"));
        const sent = record("n1", { status: "sent", sentAt: "2024-01-01T00:00:01.000Z" });
        const event = message();
        expect(await finish("k1", sent, [event])).toBe(true);
        expect(await finish("k1", sent, [message()])).toBe(false);
        expect(await begin("k1", record("n3"))).toEqual(sent);
        expect(await fx.emitted("notification.sent")).toEqual([event.body]);
      });

      it("does not finish a record of another notification id, nor a missing one", async () => {
        await begin("k1", record("n1"));
        expect(await finish("k1", record("n2", { status: "failed" }), [message("notification.failed")])).toBe(
          false,
        );
        expect(await finish("k9", record("n9", { status: "sent" }), [message()])).toBe(false);
        expect(await fx.emitted("notification.failed")).toEqual([]);
        expect(await fx.emitted("notification.sent")).toEqual([]);
      });

      it("claims several notifications at once: the first claim of each key wins, indexed", async () => {
        await begin("k1", record("n1"));
        const push = record("n2", { channel: "push" });
        expect(
          await fx.store.beginAll([
            { key: "k1", record: record("n9") },
            { key: "k2", record: push },
          ]),
        ).toEqual([record("n1"), push]);
        expect(await fx.store.beginAll([{ key: "k2", record: record("n8", { channel: "push" }) }])).toEqual([
          push,
        ]);
        expect(await fx.store.beginAll([])).toEqual([]);
        const listed = await fx.store.list({ orderId: "o1", limit: 10 });
        expect(listed.map((r) => r.notificationId).sort()).toEqual(["n1", "n2"]);
      });

      it("finishes several notifications at once, each only while it is sending with that id", async () => {
        await fx.store.beginAll([
          { key: "k1", record: record("n1") },
          { key: "k2", record: record("n2", { channel: "push" }) },
        ]);
        const sent = record("n1", { status: "sent", sentAt: "2024-01-01T00:00:01.000Z" });
        const failed = record("n2", { channel: "push", status: "failed", reason: "no device" });
        const sentEvent = message();
        const failedEvent = message("notification.failed");
        const stranger = record("n7", { status: "sent" });
        expect(
          await fx.store.finishAll([
            { key: "k1", record: sent, messages: [sentEvent] },
            { key: "k2", record: failed, messages: [failedEvent] },
            { key: "k3", record: stranger, messages: [message()] },
          ]),
        ).toEqual([true, true, false]);
        expect(await fx.store.finishAll([{ key: "k1", record: sent, messages: [message()] }])).toEqual([
          false,
        ]);
        expect(await fx.store.beginAll([{ key: "k1", record: record("n3") }])).toEqual([sent]);
        expect(await fx.emitted("notification.sent")).toEqual([sentEvent.body]);
        expect(await fx.emitted("notification.failed")).toEqual([failedEvent.body]);
      });

      it("reads the contact and claims the channels it enables in one step; nothing for an unknown or deleted user", async () => {
        const candidates = (orderId: string) =>
          (["email", "push", "sms"] as const).map((channel) => ({
            key: `order.confirmed:${orderId}:${channel}`,
            record: record(`${orderId}-${channel}`, { orderId, channel }),
          }));
        expect(await fx.store.beginForContact("u1", candidates("o1"))).toEqual({
          contact: undefined,
          records: [],
        });
        // email on, push on, sms on but no phone: email and push.
        const allOn = { ...contact(), preferences: { email: true, push: true, sms: true } };
        await fx.store.applyContact({ kind: "created", at: 10, contact: allOn });
        const claim = await fx.store.beginForContact("u1", candidates("o1"));
        expect(claim.contact).toEqual({ at: 10, contact: allOn, deleted: false });
        expect(claim.records.map((r) => r.notificationId)).toEqual(["o1-email", "o1-push"]);
        // A phone, push off: email and sms; the email claim of o1 is the one in effect.
        const phoned = {
          ...contact(),
          phone: "+1 555 0100",
          preferences: { email: true, push: false, sms: true },
        };
        await fx.store.applyContact({ kind: "updated", at: 20, contact: phoned });
        const again = await fx.store.beginForContact("u1", [
          { key: "order.confirmed:o1:email", record: record("o1-email-2", { channel: "email" }) },
          ...candidates("o2"),
        ]);
        expect(again.records.map((r) => r.notificationId)).toEqual(["o1-email", "o2-email", "o2-sms"]);
        await fx.store.applyContact({ kind: "deleted", at: 30, userId: "u1" });
        expect(await fx.store.beginForContact("u1", candidates("o3"))).toEqual({
          contact: { at: 30, deleted: true },
          records: [],
        });
        const listed = await fx.store.list({ userId: "u1", limit: 10 });
        expect(listed.map((r) => r.notificationId).sort()).toEqual([
          "o1-email",
          "o1-push",
          "o2-email",
          "o2-sms",
        ]);
      });

      it("reads a contact whose name holds a lone UTF-16 surrogate and claims its channels", async () => {
        const odd = {
          ...contact("Ada \ud800 Lovelace"),
          preferences: { email: true, push: false, sms: true },
        };
        await fx.store.applyContact({ kind: "created", at: 10, contact: { ...odd, phone: "+1 555 0100" } });
        const claim = await fx.store.beginForContact(
          "u1",
          (["email", "push", "sms"] as const).map((channel) => ({
            key: `order.confirmed:o1:${channel}`,
            record: record(`o1-${channel}`, { channel }),
          })),
        );
        expect(claim.contact?.contact?.name).toBe("Ada \ud800 Lovelace");
        expect(claim.records.map((r) => r.notificationId)).toEqual(["o1-email", "o1-sms"]);
      });

      it("releases its own claims only while they are still sending with their id", async () => {
        const mine = { key: "order.confirmed:o1:email", record: record("n1") };
        const finished = { key: "order.confirmed:o1:push", record: record("n2", { channel: "push" }) };
        const other = { key: "order.confirmed:o1:sms", record: record("n3", { channel: "sms" }) };
        await fx.store.beginAll([mine, finished, other]);
        await finish(finished.key, { ...finished.record, status: "sent" }, [message()]);
        // `other` is claimed under another id than the one released.
        await fx.store.release([
          mine,
          finished,
          { ...other, record: { ...other.record, notificationId: "n9" } },
        ]);
        const left = await fx.store.list({ orderId: "o1", limit: 10 });
        expect(left.map((r) => `${r.notificationId}:${r.status}`).sort()).toEqual(["n2:sent", "n3:sending"]);
        expect(await fx.store.list({ userId: "u1", limit: 10 })).toEqual(left);
        // Released: the key can be claimed afresh.
        expect((await begin(mine.key, record("n4"))).notificationId).toBe("n4");
      });

      it("keeps a claim another delivery took up: released, the fact would go out under a second id", async () => {
        await fx.store.applyContact({
          kind: "created",
          at: 10,
          contact: { ...contact(), preferences: { email: true, push: false, sms: false } },
        });
        const claim = (id: string) => [{ key: "order.confirmed:o1:email", record: record(id) }];
        // A claims n1 and cannot open the contact; B (another instance) resumed n1 meanwhile and
        // calls the provider with it.
        const a = await fx.store.beginForContact("u1", claim("n1"));
        const b = await fx.store.beginForContact("u1", claim("n2"));
        expect(b.records.map((r) => r.notificationId)).toEqual(["n1"]);
        await fx.store.release(ownClaims(claim("n1"), a.records));

        const sent = { ...b.records[0]!, status: "sent" as const };
        expect(
          await fx.store.finishAll([{ key: claim("n1")[0]!.key, record: sent, messages: [message()] }]),
        ).toEqual([true]);
        expect(await fx.emitted("notification.sent")).toHaveLength(1);
        // A later delivery (A's message replayed from the DLQ) finds the fact sent: no second id.
        const later = await fx.store.beginForContact("u1", claim("n3"));
        expect(later.records.map((r) => `${r.notificationId}:${r.status}`)).toEqual(["n1:sent"]);
      });

      it("refuses another service's events in a batch finish, finishing none of it", async () => {
        await fx.store.beginAll([{ key: "k1", record: record("n1") }]);
        await expect(
          fx.store.finishAll([
            { key: "k1", record: record("n1", { status: "sent" }), messages: [message()] },
            {
              key: "k1",
              record: record("n1", { status: "sent" }),
              messages: [message("user.created", "user")],
            },
          ]),
        ).rejects.toMatchObject({ code: "FOREIGN_EVENT" });
        expect((await begin("k1", record("x"))).status).toBe("sending");
        expect(await fx.emitted("notification.sent")).toEqual([]);
      });

      it("refuses to emit another service's events", async () => {
        await begin("k1", record("n1"));
        await expect(
          finish("k1", record("n1", { status: "sent" }), [message("user.created", "user")]),
        ).rejects.toMatchObject({
          code: "FOREIGN_EVENT",
        });
        expect((await begin("k1", record("x"))).status).toBe("sending");
      });
    });

    describe("queries", () => {
      beforeEach(async () => {
        await begin("a", record("n1", { createdAt: "2024-01-01T00:00:01.000Z" }));
        await begin("b", record("n2", { createdAt: "2024-01-01T00:00:03.000Z", orderId: "o2" }));
        await begin("c", record("n3", { createdAt: "2024-01-01T00:00:02.000Z", template: "welcome" }));
        await begin("d", record("n4", { createdAt: "2024-01-01T00:00:04.000Z", userId: "u2" }));
      });

      const ids = (records: NotificationRecord[]) => records.map((r) => r.notificationId);

      it("lists a user's notifications newest first, up to the limit", async () => {
        expect(ids(await fx.store.list({ userId: "u1", limit: 10 }))).toEqual(["n2", "n3", "n1"]);
        expect(ids(await fx.store.list({ userId: "u1", limit: 2 }))).toEqual(["n2", "n3"]);
      });

      it("lists an order's notifications, optionally of one user", async () => {
        expect(ids(await fx.store.list({ orderId: "o1", limit: 10 }))).toEqual(["n4", "n3", "n1"]);
        expect(ids(await fx.store.list({ orderId: "o1", userId: "u1", limit: 10 }))).toEqual(["n3", "n1"]);
        expect(await fx.store.list({ orderId: "none", limit: 10 })).toEqual([]);
      });

      it("lists the records after a position, ties in one millisecond ordered by id", async () => {
        const at = "2024-01-01T00:00:05.000Z";
        for (const [key, id] of [
          ["t1", "n7"],
          ["t2", "n5"],
          ["t3", "n6"],
        ]) {
          await begin(key!, record(id!, { createdAt: at }));
        }
        const first = await fx.store.list({ userId: "u1", limit: 2 });
        expect(ids(first)).toEqual(["n7", "n6"]);
        const after = { createdAt: at, notificationId: "n6" };
        expect(ids(await fx.store.list({ userId: "u1", limit: 2, after }))).toEqual(["n5", "n2"]);
        const later = { createdAt: "2024-01-01T00:00:02.000Z", notificationId: "n3" };
        expect(ids(await fx.store.list({ userId: "u1", limit: 5, after: later }))).toEqual(["n1"]);
      });
    });
  });
}
