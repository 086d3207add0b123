/**
 * A stand-in process for bench/soak-heap-gate.test.ts: serves its heap on /metrics as the services
 * do (prom-client default metrics, `ordersaga_` prefix) and makes garbage all the time, so its heap
 * has the collector's sawtooth. Run with --expose-gc and bench/soak-gc-hook.mjs; the hook's
 * SOAK_LEAK_* variables make it leak. Reports its port over IPC.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Registry } from "prom-client";

const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "ordersaga_" });

let churn: { i: number; s: string }[] = [];
setInterval(() => {
  churn = Array.from({ length: 2_000 }, (_, i) => ({ i, s: `item ${i} ${churn.length}` }));
}, 20);

const server = createServer((_request, response) => {
  void registry.metrics().then((text) => response.end(text));
});
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => process.exit(0));
