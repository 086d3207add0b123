/**
 * Each service process reads the variables README documents for it, as the embedded system does
 * (review money-break F6: the order process dropped SAGA_STEP_TIMEOUT_MS), and a bad value stops it
 * with one line naming the variable (newuser F19), not a stack trace. Real processes over Redis.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { childrenKilledAfterEach } from "../test-support/child-run.js";

interface Run {
  child: ChildProcess;
  url: Promise<string>;
  output: () => string;
  exited: Promise<number | null>;
}

const running = childrenKilledAfterEach();

function run(main: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    env: { ...process.env, LOG_LEVEL: "info", SERVICE_PORT: "0", ...env },
    // An IPC channel: the process reports "ready" with its URL on it, as to the launcher.
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  running.push(child);
  let text = "";
  child.stdout!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = new Promise<string>((resolve) =>
    child.on("message", (m: { type?: string; url?: string }) => {
      if (m.type === "ordersaga:ready" && m.url) resolve(m.url);
    }),
  );
  return { child, url, output: () => text, exited };
}

describeWithRedis("service processes read their documented variables", (getRedis) => {
  it("an order process runs its saga steps with SAGA_STEP_TIMEOUT_MS", async () => {
    const r = run("src/services/order/main.ts", {
      REDIS_URL: getRedis().url,
      SAGA_STEP_TIMEOUT_MS: "16000",
      INSTANCE_ID: "order-env-test",
    });
    const url = await r.url;
    const placed = await fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        userId: "u-env",
        items: [{ productId: "p-env", quantity: 1 }],
        payment: { token: "tok_ok" },
      }),
    });
    expect(placed.status).toBe(202);
    const { orderId } = (await placed.json()) as { orderId: string };
    const requested = await waitFor(
      async () => {
        const body = (await (await fetch(`${url}/orders/${orderId}/events`)).json()) as {
          events: { type: string; time: string; data: { deadline?: number } }[];
        };
        return body.events.find((e) => e.type === "order.event.step.requested");
      },
      30_000,
      "the first step's request",
      100,
    );
    expect(requested.data.deadline! - Date.parse(requested.time)).toBe(16_000);
  }, 120_000);

  it.each([
    ["order", "src/services/order/main.ts", { SAGA_STEP_TIMEOUT_MS: "1000" }, /SAGA_STEP_TIMEOUT_MS/],
    ["order", "src/services/order/main.ts", { ORDER_CACHE_SIZE: "-3" }, /ORDER_CACHE_SIZE/],
    ["inventory", "src/services/inventory/main.ts", { MAX_ORDER_TOTAL_CENTS: "x" }, /MAX_ORDER_TOTAL_CENTS/],
    ["user", "src/services/user/main.ts", { CLAIM_IDLE_MS: "soon" }, /CLAIM_IDLE_MS/],
  ])(
    "a bad value stops the %s process with one line naming the variable (%j)",
    async (name, main, env, variable) => {
      const r = run(main, { REDIS_URL: getRedis().url, ...env });
      expect(await r.exited).toBe(1);
      const lines = r.output().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^${name} could not start: Invalid configuration: `));
      expect(lines[0]).toMatch(variable);
    },
    60_000,
  );
});
