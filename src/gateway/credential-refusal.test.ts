/**
 * Break17 F1 over real HTTP: an instance started with another gateway secret (a rotated or wrong
 * master) refuses every call 403 GATEWAY_AUTH_INVALID before reading it. The gateway re-signs once,
 * then sends the request to another instance (any method: nothing was applied), counts the refusal
 * against the instance, and warns naming it; a client never sees the gateway's credential problem.
 */
import { describe, expect, it } from "vitest";
import {
  GATEWAY_AUTH_HEADER,
  serviceCredentialSecret,
  verifyGatewayCredential,
} from "../lib/http/gateway-credential.js";
import { createLogger } from "../lib/observability/logger.js";
import { orderBody } from "../services/order/test-harness.js";
import { type Answerer, useTestGateway } from "./test-upstream.js";

const MASTER = "m".repeat(64);
const ROTATED = "r".repeat(64);

const harness = useTestGateway();

/** An instance that checks the credential as a service does, with the secret it was started with. */
const checking =
  (master: string, instanceId: string): Answerer =>
  (hit) => {
    const header = hit.headers[GATEWAY_AUTH_HEADER];
    const secret = serviceCredentialSecret(master, "order");
    const check = verifyGatewayCredential(
      secret,
      typeof header === "string" ? header : undefined,
      hit.method,
      hit.url,
    );
    if (check !== "ok") {
      return {
        status: 403,
        body: {
          error: { code: "GATEWAY_AUTH_INVALID", message: "Gateway credential invalid: call the gateway" },
        },
      };
    }
    return { status: hit.method === "POST" ? 202 : 200, body: { servedBy: instanceId } };
  };

describe("an instance that refuses the gateway's credential", () => {
  it("is passed over for another instance, every request succeeds, and a warning names it", async () => {
    const lines: string[] = [];
    const logger = createLogger({
      service: "gateway",
      level: "warn",
      destination: { write: (line: string) => void lines.push(line) },
    });
    const gw = await harness.start({ sharedSecret: MASTER, logger });
    // Sorted by id, the rotated one is first in turn.
    const rotated = await harness.upstream("order", "order-a-rotated", checking(ROTATED, "a"));
    await harness.upstream("order", "order-b", checking(MASTER, "order-b"));
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${gw.url}/orders/o-${i}`)).status);
    // A POST without a key is never resent after it may have been applied; a refused one was not.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(orderBody()),
      });
      statuses.push(res.status);
    }
    // It was 200 200 403 ... for as long as the instance ran (one request in two here).
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 202, 202, 202]);
    expect(rotated.hits.length).toBeGreaterThanOrEqual(1);
    const warnings = lines
      .map((line) => JSON.parse(line) as { msg: string; instanceId?: string })
      .filter((entry) => /refuses the gateway's credential/.test(entry.msg));
    // Throttled: one warning for the instance, not one per request.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ instanceId: "order-a-rotated" });
    expect(warnings[0]!.msg).toMatch(/GATEWAY secret differs\?/);
  }, 30_000);
});
