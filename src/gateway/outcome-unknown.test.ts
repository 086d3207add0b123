import { describe, expect, it } from "vitest";
import { type TestUpstream, useTestGateway } from "./test-upstream.js";

// break19 F2: a write an instance received and did not answer (it handled the body, then the
// connection broke) may have been applied. Whatever ends the request after that, with no answer
// from any instance, is 502 UPSTREAM_OUTCOME_UNKNOWN (never BAD_GATEWAY, read as "not applied", nor
// a 503 "retry shortly"), with the safe-resend hint when the request carries an honoured key.

const harness = useTestGateway();

const order = { userId: "u-1", items: [{ productId: "p-1", quantity: 1 }], payment: { token: "tok_visa" } };
const KEY = "5f1e0c52-7a43-4c1b-9d7e-0b2f3a6c8d91";

/** An instance that reads the whole request, then destroys the socket instead of answering. */
const resetting = (service: string, id: string): Promise<TestUpstream> =>
  harness.upstream(service, id, () => ({ status: 202, reset: true }));

const sendOrder = (headers: Record<string, string> = { "idempotency-key": KEY }) =>
  fetch(`${harness.gw.url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(order),
  });

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

async function expectOutcomeUnknown(res: Response, keyed: boolean): Promise<ErrorBody["error"]> {
  expect(res.status).toBe(502);
  const { error } = (await res.json()) as ErrorBody;
  expect(error.code).toBe("UPSTREAM_OUTCOME_UNKNOWN");
  expect(error.details).toMatchObject({ outcome: "unknown" });
  if (keyed) {
    expect(error.message).toMatch(/resending it with the same Idempotency-Key is safe/);
    expect(error.details).toMatchObject({ resendWithSameIdempotencyKey: "safe" });
  } else {
    expect(error.details?.resendWithSameIdempotencyKey).toBeUndefined();
  }
  return error;
}

describe("a write sent and not answered says its outcome is unknown", () => {
  it("keyed POST /orders, the only instance broke the connection (no other instance for the resend)", async () => {
    await harness.start();
    const only = await resetting("order", "order-a");
    await expectOutcomeUnknown(await sendOrder(), true);
    expect(only.hits).toHaveLength(1);
  });

  it("keyed POST /orders, every resend broke the connection too (attempts exhausted)", async () => {
    await harness.start({ maxAttempts: 2 });
    const instances = [await resetting("order", "order-a"), await resetting("order", "order-b")];
    await expectOutcomeUnknown(await sendOrder(), true);
    expect(instances.map((u) => u.hits.length)).toEqual([1, 1]);
  });

  it("keyed POST /orders, the resend found a dead instance (connection refused): not a 503", async () => {
    await harness.start();
    const a = await resetting("order", "order-a");
    const b = await harness.upstream("order", "order-b");
    await b.close();
    await expectOutcomeUnknown(await sendOrder(), true);
    expect(a.hits).toHaveLength(1);
  });

  it("keyed POST /orders, the resend's instance answered 500 without the error shape: not BAD_GATEWAY", async () => {
    await harness.start();
    const a = await resetting("order", "order-a");
    const b = await harness.upstream("order", "order-b", () => ({ status: 500, body: "oops" }));
    await expectOutcomeUnknown(await sendOrder(), true);
    expect(a.hits.length + b.hits.length).toBe(2);
  });

  it("DELETE, the only instance broke the connection: no key hint", async () => {
    const gw = await harness.start();
    await resetting("user", "user-a");
    await expectOutcomeUnknown(await fetch(`${gw.url}/users/u-1`, { method: "DELETE" }), false);
  });

  it("a GET that broke the connection changed nothing: still BAD_GATEWAY", async () => {
    const gw = await harness.start();
    await resetting("inventory", "inv-a");
    const res = await fetch(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(502);
    expect(((await res.json()) as ErrorBody).error.code).toBe("BAD_GATEWAY");
  });
});
