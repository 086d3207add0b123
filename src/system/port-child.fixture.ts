/**
 * A child for launcher-restart-port.test.ts: listens on 127.0.0.1 at GATEWAY_PORT or SERVICE_PORT
 * (0: a free port), as the gateway and a service do, and tells the launcher its URL over IPC.
 */
import { createServer } from "node:http";
import { signalReady } from "../lib/runtime/launch-signal.js";
import { watchParent } from "../lib/runtime/process.js";

const parent = watchParent();
const server = createServer((_request, response) => response.end("ok"));
const port = Number(process.env.GATEWAY_PORT ?? process.env.SERVICE_PORT ?? 0);
await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
const address = server.address();
const bound = typeof address === "object" && address !== null ? address.port : 0;
await signalReady("port-child", `http://127.0.0.1:${bound}`);
parent.whenGone(() => process.exit(0));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
