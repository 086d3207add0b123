/**
 * A process with tracing on that ends a few spans, prints "ready" and stops on SIGTERM the way every
 * service's main does (shutdownOnSignals → tracing.shutdown()). Used by tracing-shutdown.test.ts
 * with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a collector that never answers.
 */
import { createLogger } from "./logger.js";
import { tracer } from "./spans.js";
import { initTracing } from "./tracing.js";
import { shutdownOnSignals } from "../runtime/process.js";

const tracing = initTracing({ service: "shutdown-fixture" });
for (let i = 0; i < 5; i++) tracer().startSpan(`work ${i}`).end();
const logger = createLogger({ service: "shutdown-fixture", level: "silent" });
shutdownOnSignals({ logger, stop: () => tracing.shutdown() });
// Keeps the process alive until the signal.
setInterval(() => {}, 60_000);
process.stdout.write(`ready ${tracing.exporter}\n`);
