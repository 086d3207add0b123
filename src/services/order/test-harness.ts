/**
 * Test support: the order service started on a platform next to simulated services, with HTTP
 * helpers. Used by the memory and Redis service tests.
 */
import { AllEvents } from "../../contracts/index.js";
import type { Platform } from "../../lib/runtime/platform.js";
import type { Keyring } from "../../lib/security/keyring.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { waitFor } from "../../test-support/wait.js";
import type { OrderView } from "./projections.js";
import { createOrderService, type OrderServiceInternals, type OrderServiceOptions } from "./service.js";
import {
  defaultBehaviour,
  type ResponderBehaviour,
  type Simulation,
  startSimulation,
} from "./test-responders.js";

export const orderBody = (overrides: Record<string, unknown> = {}) => ({
  userId: "u-1",
  items: [
    { productId: "sku-1", quantity: 2 },
    { productId: "sku-2", quantity: 1 },
  ],
  payment: { token: "tok_ok" },
  ...overrides,
});

export interface HttpResult<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export interface OrderHarness {
  running: RunningService;
  sim: Simulation;
  internals: OrderServiceInternals;
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<HttpResult<T>>;
  place(body?: unknown, headers?: Record<string, string>): Promise<string>;
  waitForStatus(orderId: string, status: string, timeoutMs?: number): Promise<OrderView>;
  stop(): Promise<void>;
}

export async function startOrderService(
  platform: Platform,
  options: OrderServiceOptions = {},
  behaviour: Partial<ResponderBehaviour> = {},
  sim?: Simulation,
  /** The instance's own clock (default `Date.now`): a skewed one plays a machine whose clock is off. */
  now?: () => number,
  /** The service's signing keys (default: the process's). */
  keyring?: Keyring,
  /** The secret its port verifies the gateway's credential with (default: none, the port is open). */
  gatewaySecret?: string,
): Promise<OrderHarness> {
  const simulation =
    sim ?? (await startSimulation(platform.transport, { ...defaultBehaviour(), ...behaviour }));
  let internals: OrderServiceInternals | undefined;
  const definition = createOrderService({
    sweepIntervalMs: 50,
    ...options,
    onCreated: (created) => {
      internals = created;
    },
  });
  const running = await startService(definition, {
    events: AllEvents,
    platform,
    port: 0,
    logLevel: "silent",
    ...(now ? { now } : {}),
    ...(keyring ? { keyring } : {}),
    ...(gatewaySecret === undefined ? {} : { gatewaySecret }),
  });
  const request = async <T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(running.url + path, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  return {
    running,
    sim: simulation,
    internals: internals!,
    request,
    place: async (body = orderBody(), headers = {}) => {
      const result = await request<{ orderId: string }>("POST", "/orders", body, headers);
      if (result.status !== 202)
        throw new Error(`POST /orders answered ${result.status}: ${JSON.stringify(result.body)}`);
      return result.body.orderId;
    },
    waitForStatus: (orderId, status, timeoutMs = 5_000) =>
      waitFor(
        async () => {
          const result = await request<OrderView>("GET", `/orders/${orderId}`);
          return result.body.status === status ? result.body : undefined;
        },
        timeoutMs,
        `order ${orderId} ${status}`,
      ),
    stop: async () => {
      await running.stop();
      if (!sim) await simulation.stop();
    },
  };
}
