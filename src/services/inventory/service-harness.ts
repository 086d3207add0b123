/**
 * Test harness for the inventory service (not a test itself): the service started on a platform,
 * an `order` publisher for its commands, and an observer group recording what inventory emits.
 */
import { type AllEventName, AllEvents } from "../../contracts/index.js";
import type { Envelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import type { Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { waitFor } from "../../test-support/wait.js";
import { createInventoryService, type InventoryServiceOptions } from "./service.js";

export const INVENTORY_OUTPUTS = [
  "inventory.reserved",
  "inventory.reservation.failed",
  "inventory.released",
  "inventory.release.skipped",
  "inventory.committed",
  "inventory.lowStock",
  "inventory.product.added",
  "inventory.restocked",
] as const satisfies readonly AllEventName[];

export interface InventoryHarness {
  running: RunningService;
  /** Publishes as the order service would. */
  order: Publisher<typeof AllEvents>;
  /** Everything inventory emitted so far, in arrival order. */
  seen: Envelope[];
  payloads(event: string): unknown[];
  /** Waits until `count` messages of `event` were seen, and returns their payloads. */
  waitForEvents(event: string, count?: number): Promise<unknown[]>;
  /** Deliveries of `event` the service finished handling (from its /metrics). */
  handled(event: string): Promise<number>;
  http(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

async function handledCount(url: string, event: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split("\n")
    .filter(
      (line) => line.startsWith("ordersaga_events_processed_total{") && line.includes(`event="${event}"`),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

export async function startInventoryHarness(
  platform: Platform,
  options: InventoryServiceOptions = {},
): Promise<InventoryHarness> {
  const seen: Envelope[] = [];
  const observer = new Subscriber({
    events: AllEvents,
    transport: platform.transport,
    group: "test-observer",
    consumer: "observer-1",
  });
  for (const event of INVENTORY_OUTPUTS) observer.on(event, (_payload, ctx) => void seen.push(ctx.envelope));
  await platform.transport.ensureGroups("test-observer", observer.topics());
  await observer.start();
  const running = await startService(createInventoryService(options), {
    events: AllEvents,
    platform,
    port: 0,
  });
  const order = new Publisher({
    events: AllEvents,
    transport: platform.transport,
    source: { service: "order", instance: "test" },
  });
  const payloads = (event: string) => seen.filter((e) => e.event === event).map((e) => e.payload);
  return {
    running,
    order,
    seen,
    payloads,
    waitForEvents: async (event, count = 1) => {
      await waitFor(() => payloads(event).length >= count, 5_000, `${count} × ${event}`);
      return payloads(event);
    },
    handled: (event) => handledCount(running.url, event),
    http: async (path, init = {}) => {
      const response = await fetch(`${running.url}${path}`, {
        method: init.method ?? "GET",
        ...(init.body === undefined
          ? {}
          : { body: JSON.stringify(init.body), headers: { "content-type": "application/json" } }),
      });
      return { status: response.status, body: await response.json() };
    },
    stop: async () => {
      await running.stop();
      await observer.stop();
      await platform.close();
    },
  };
}
