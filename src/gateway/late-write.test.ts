/**
 * Break35 F1 over real HTTP: an unkeyed POST /orders reaches an order instance that is stalled
 * (a SIGSTOP or a long GC: the request waits in the socket, unread) past the gateway's budget. The
 * gateway answers 504, and the client, told when the request can no longer be applied, checks after
 * that time: no order. Then the instance wakes and reads the request: it must not create the order
 * (it used to, up to GATEWAY_AUTH_WINDOW_MS = 30 s later: a resend after the check doubled it).
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { gatewayHeaders, serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { createMemoryPlatform, type Platform } from "../lib/runtime/platform.js";
import { type OrderHarness, orderBody, startOrderService } from "../services/order/test-harness.js";
import { waitFor } from "../test-support/wait.js";
import { useTestGateway } from "./test-upstream.js";

const MASTER = "m".repeat(64);

/**
 * A TCP stand-in for a stalled instance: it accepts connections and keeps what they send, unread by
 * the service, until `wake()`; then the kept bytes reach the service, as a woken process reads its
 * socket. `answers` collects what the service answered them.
 */
interface StalledInstance {
  port: number;
  received: () => number;
  wake(): void;
  answers: string[];
  close(): Promise<void>;
}

async function stalledInstance(targetPort: number): Promise<StalledInstance> {
  const held: Buffer[][] = [];
  const sockets: Socket[] = [];
  const answers: string[] = [];
  let awake = false;
  /** The kept request reaches the service; its answer is kept once its head has come. */
  const pass = (bytes: Buffer[]) => {
    const upstream = connect(targetPort, "127.0.0.1", () => upstream.write(Buffer.concat(bytes)));
    sockets.push(upstream);
    let answer = "";
    upstream.on("error", () => undefined);
    upstream.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      const body = /\r\n\r\n([\s\S]*)$/.exec(answer)?.[1];
      if (body !== undefined && body.includes("}")) answers.push(answer);
    });
  };
  const server: Server = createServer((client) => {
    sockets.push(client);
    const bytes: Buffer[] = [];
    held.push(bytes);
    client.on("error", () => undefined);
    client.on("data", (chunk: Buffer) => {
      if (!awake) bytes.push(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    received: () => held.filter((b) => b.length > 0).length,
    answers,
    wake: () => {
      awake = true;
      for (const bytes of held) if (bytes.length > 0) pass(bytes);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let order: OrderHarness | undefined;
let platform: Platform | undefined;
let stalled: StalledInstance | undefined;

afterEach(async () => {
  await stalled?.close();
  await order?.stop();
  await platform?.close();
  order = platform = stalled = undefined;
});
const harness = useTestGateway();

describe("an unkeyed POST /orders the gateway answered 504 (break35 F1)", () => {
  it("is not applied when the stalled instance wakes after the deadline the 504 states", async () => {
    platform = createMemoryPlatform();
    const secret = serviceCredentialSecret(MASTER, "order");
    order = await startOrderService(platform, {}, {}, undefined, undefined, undefined, secret);
    const gw = await harness.start({ upstreamTimeoutMs: 1_500, sharedSecret: MASTER });
    stalled = await stalledInstance(Number(new URL(order.running.url).port));
    const at = new Date().toISOString();
    await gw.registry.register(
      {
        service: "order",
        instanceId: "order-stalled",
        address: "127.0.0.1",
        port: stalled.port,
        version: "1.0.0",
        startedAt: at,
        lastHeartbeat: at,
        status: "healthy",
        consecutiveFailures: 0,
      },
      60_000,
    );
    const res = await fetch(`${gw.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(orderBody({ userId: "u-late" })),
    });
    expect(res.status).toBe(504);
    const { error } = (await res.json()) as {
      error: { code: string; message: string; details?: { applicableUntil?: string } };
    };
    expect(stalled.received()).toBe(1);
    // The client waits until the time the 504 states (3 s past its answer if it states none), then
    // checks: no order. Its check is conclusive only if the woken instance cannot create it now.
    const until = Date.parse(error.details?.applicableUntil ?? "") || Date.now() + 3_000;
    await waitFor(() => Date.now() > until + 50, 15_000, "the stated deadline");
    const list = `${order.running.url}/orders?userId=u-late`;
    const orders = async () => {
      const answer = await fetch(list, { headers: gatewayHeaders(secret, "GET", list) });
      return ((await answer.json()) as { orders: unknown[] }).orders;
    };
    expect(await orders()).toHaveLength(0);
    stalled.wake();
    // The instance reads the request now and answers it (to nobody: the gateway gave up).
    const answer = await waitFor(() => stalled?.answers[0], 15_000, "the woken instance's answer");
    expect(await orders()).toHaveLength(0);
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer).toContain("GATEWAY_DEADLINE_PASSED");
    // The 504 said until when it could still be applied, and that a check after that is conclusive.
    expect(error.code).toBe("UPSTREAM_TIMEOUT");
    expect(new Date(until).toISOString()).toBe(error.details?.applicableUntil);
    expect(error.message).toContain(error.details?.applicableUntil);
    expect(error.message).toMatch(/after that time/);
  }, 60_000);
});
