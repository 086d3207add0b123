/**
 * The storage budget holds: every service its own process over a private Redis, the demo
 * scenarios, 30 orders and a few failure paths (a transient payment error, a dead letter retried),
 * then a scan of every key. A key of no documented family (docs/storage.md), a transient key
 * without its TTL, or a stream that keeps what it no longer needs fails the test.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { runScenarios } from "../demo/scenarios.js";
import { eventStreamKey } from "../lib/bus/transports/redis-stream-keys.js";
import { gatewayUrlOf } from "../test-support/launched.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { DEFAULT_MUST_COMPLETE_WINDOW_MS } from "../lib/runtime/retention.js";
import { type KeyScan, scanKeys } from "./key-scan.js";
import { type LaunchedSystem, launch, planProcesses } from "./launcher.js";

const TERMINAL = ["shipped", "delivered", "failed", "cancelled"];
/** Short windows, so that the bounds are reached inside the test (the defaults are hours and days). */
const STREAM_RETENTION_MS = 3_000;
const TRIM_INTERVAL_MS = 500;

describeWithRedis("the storage budget of a run of the whole system", (getRedis) => {
  let system: LaunchedSystem | undefined;
  const logs: string[] = [];

  it("leaves only documented keys, every transient one bounded, after orders and failures", async () => {
    system = launch(
      planProcesses({
        redisUrl: getRedis().url,
        gatewayPort: 0, // read back once up: a port picked free here could be taken first (flake31 F6)
        logLevel: "warn",
        anyPort: true,
        env: {
          HEARTBEAT_INTERVAL_MS: "1000",
          STREAM_TRIM_INTERVAL_MS: String(TRIM_INTERVAL_MS),
          STREAM_RETENTION_MS: String(STREAM_RETENTION_MS),
        },
      }),
      (line) => logs.push(line),
    );
    const gatewayUrl = await gatewayUrlOf(system, logs);
    const api = createApiClient(gatewayUrl);
    await waitFor(
      async () => {
        const body = (await (await fetch(`${gatewayUrl}/services`)).json()) as {
          services: { name: string; instances: unknown[] }[];
        };
        return body.services.filter((s) => s.instances.length > 0).length >= 7;
      },
      90_000,
      "every service registered",
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${logs.slice(-30).join("\n")}`);
    });

    const results = await runScenarios({ api, runId: randomUUID().slice(0, 8), timeoutMs: 30_000 });
    for (const result of results) expect(result.failures, result.name).toEqual([]);

    const user = await api.post<{ id: string }>("/users", {
      email: `storage-${randomUUID()}@example.com`,
      name: "Storage Budget",
    });
    const productId = `prod-${randomUUID().slice(0, 8)}`;
    await api.post("/inventory", { productId, name: "budget", price: 100, quantity: 1_000 });
    const tokens = [...Array<string>(30).fill("tok_ok"), "tok_flaky", "tok_error"];
    const orderIds: string[] = [];
    for (const token of tokens) {
      const res = await api.post<{ orderId: string }>("/orders", {
        userId: user.body.id,
        items: [{ productId, quantity: 1 }],
        payment: { token },
      });
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      orderIds.push(res.body.orderId);
    }
    // A message no handler can take: dead-lettered at once, then retried by an operator.
    const redis = getRedis().client();
    await redis.xadd(eventStreamKey("order", "payment.requested"), "*", "b", "not an envelope");
    const deadLetter = await waitFor(
      async () => (await api.get<{ items: { id: string }[] }>("/dlq")).body.items[0],
      30_000,
      "a dead letter",
    );
    expect((await api.post(`/dlq/${encodeURIComponent(deadLetter.id)}/retry`, {})).status).toBeLessThan(500);

    await Promise.all(
      orderIds.map((id) =>
        waitFor(
          async () => TERMINAL.includes((await api.get<{ status: string }>(`/orders/${id}`)).body.status),
          90_000,
          `order ${id} terminal`,
        ),
      ),
    );

    let last: KeyScan | undefined;
    const limits = () => ({
      streamRetentionMs: STREAM_RETENTION_MS,
      dlqAuditRetentionMs: 30 * 86_400_000,
      markerTtlMs: 7 * 86_400_000,
      heartbeatIntervalMs: 1_000,
      slackMs: 4 * TRIM_INTERVAL_MS,
      groupLagMs: 60_000,
      pendingMaxAgeMs: DEFAULT_MUST_COMPLETE_WINDOW_MS,
      overdueMs: 60_000,
      now: Date.now(),
    });
    await waitFor(
      async () => {
        last = await scanKeys(redis, limits());
        return last.unknown.length === 0 && last.violations.length === 0;
      },
      60_000,
      "every key documented and bounded",
      500,
    ).catch(() => undefined);
    expect(last?.unknown, "keys of no documented family").toEqual([]);
    expect(last?.violations, "transient keys over their bound").toEqual([]);

    // The run did write what the bounds are about (the scan is not vacuous).
    const usage = last!.usage;
    expect(usage.get("{user}:validated:<orderId>")?.keys).toBeGreaterThanOrEqual(30);
    expect(usage.get("{payment}:attempt:<orderId>:<n>")?.keys).toBeGreaterThanOrEqual(1);
    expect(usage.get("{dlq}:audit:<id>")?.keys).toBeGreaterThanOrEqual(1);
    // A stream only the outbox writes and no group reads is emptied once its window has passed.
    const placed = eventStreamKey("order", "order.placed");
    expect(await redis.exists(placed)).toBe(1);
    await waitFor(async () => (await redis.xlen(placed)) === 0, 30_000, "order.placed trimmed", 200);
  }, 300_000);

  it("stops every process", async () => {
    await system?.stop();
    expect(
      [...(system?.children.values() ?? [])].every((c) => c.exitCode !== null || c.signalCode !== null),
    ).toBe(true);
  }, 30_000);
});
