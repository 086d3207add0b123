import { describe, expect, it } from "vitest";
import { createHttpServer } from "./server.js";
import {
  GATEWAY_AUTH_HEADER,
  GATEWAY_AUTH_REUSE_MS,
  GATEWAY_AUTH_WINDOW_MS,
  GATEWAY_DEADLINE_MARGIN_MS,
  GatewayCredentialSigner,
  GatewayCredentialVerifier,
  installGatewayCredentialCheck,
  signGatewayAttempt,
  signGatewayRequest,
  verifyGatewayCredential,
} from "./gateway-credential.js";

const secret = "a".repeat(64);

describe("the gateway credential (X-Gateway-Auth)", () => {
  it("verifies a header signed for this method, path and time", () => {
    const header = signGatewayRequest(secret, "GET", "/orders/o-1?x=1", 1_000_000);
    expect(verifyGatewayCredential(secret, header, "GET", "/orders/o-1?x=1", 1_000_000)).toBe("ok");
  });

  it("refuses another method, path, secret, a malformed value, or one outside the replay window", () => {
    const at = 1_000_000;
    const header = signGatewayRequest(secret, "GET", "/orders/o-1", at);
    expect(verifyGatewayCredential(secret, header, "DELETE", "/orders/o-1", at)).toBe("invalid");
    expect(verifyGatewayCredential(secret, header, "GET", "/orders/o-2", at)).toBe("invalid");
    expect(verifyGatewayCredential("b".repeat(64), header, "GET", "/orders/o-1", at)).toBe("invalid");
    expect(verifyGatewayCredential(secret, "v1.1.abc", "GET", "/orders/o-1", at)).toBe("invalid");
    expect(verifyGatewayCredential(secret, undefined, "GET", "/orders/o-1", at)).toBe("missing");
    expect(
      verifyGatewayCredential(secret, header, "GET", "/orders/o-1", at + GATEWAY_AUTH_WINDOW_MS + 1),
    ).toBe("expired");
  });
});

describe("the credential's time is read strictly (one spelling per header)", () => {
  it("refuses a timestamp with leading zeros, a sign, or more than 16 digits, also once the time verified", () => {
    const at = 1_700_000_000_000;
    const header = signGatewayRequest(secret, "POST", "/orders", at);
    const mac = header.split(".")[2]!;
    const verifier = new GatewayCredentialVerifier(secret);
    // The canonical header verifies first (its MAC is then remembered by the verifier).
    expect(verifier.verify(header, "POST", "/orders", at)).toBe("ok");
    for (const time of [`000${at}`, `0${at}`, `+${at}`, `${at}.0`, `1${"0".repeat(16)}`]) {
      const other = `v1.${time}.${mac}`;
      expect(verifyGatewayCredential(secret, other, "POST", "/orders", at)).toBe("invalid");
      expect(verifier.verify(other, "POST", "/orders", at)).toBe("invalid");
    }
    // Time 0 is spelled "0" (and is outside the window, not malformed).
    const zero = signGatewayRequest(secret, "GET", "/x", 0);
    expect(zero).toMatch(/^v1\.0\./);
    expect(verifyGatewayCredential(secret, zero, "GET", "/x", 0)).toBe("ok");
    expect(verifyGatewayCredential(secret, zero.replace("v1.0.", "v1.00."), "GET", "/x", 0)).toBe("invalid");
  });
});

describe("the gateway's signer and a service's verifier", () => {
  it("the gateway reuses one header for the same call and deadline within GATEWAY_AUTH_REUSE_MS, then signs anew", () => {
    const signer = new GatewayCredentialSigner(secret);
    const at = 2_000_000;
    const budget = 10_000;
    const first = signer.sign("POST", "/orders", at, budget);
    // The deadline: the time + the budget + the margin, rounded up to a whole reuse period.
    expect(first.deadline).toBe(at + budget + GATEWAY_DEADLINE_MARGIN_MS);
    expect(first.header).toBe(signGatewayAttempt(secret, "POST", "/orders", at, first.deadline));
    // Reused later in the period: its deadline still covers this attempt's whole budget.
    const reused = signer.sign("POST", "/orders", at + 500, budget - 600);
    expect(reused).toEqual(first);
    // A longer budget never gets an earlier deadline (break35 F1): signed anew.
    const longer = signer.sign("POST", "/orders", at + GATEWAY_AUTH_REUSE_MS - 1, budget);
    expect(longer.deadline).toBeGreaterThanOrEqual(
      at + GATEWAY_AUTH_REUSE_MS - 1 + budget + GATEWAY_DEADLINE_MARGIN_MS,
    );
    expect(longer.header).not.toBe(first.header);
    // Another call (method or path) has its own header.
    expect(signer.sign("GET", "/orders", at + 5, budget).header).toBe(
      signGatewayAttempt(
        secret,
        "GET",
        "/orders",
        at + 5,
        Math.ceil((at + 5 + budget + GATEWAY_DEADLINE_MARGIN_MS) / GATEWAY_AUTH_REUSE_MS) *
          GATEWAY_AUTH_REUSE_MS,
      ),
    );
    expect(signer.sign("POST", "/orders/o-1/cancel", at + 5, budget).header).not.toBe(first.header);
    const next = signer.sign("POST", "/orders", at + GATEWAY_AUTH_REUSE_MS, budget - GATEWAY_AUTH_REUSE_MS);
    expect(next.header).toBe(
      signGatewayAttempt(secret, "POST", "/orders", at + GATEWAY_AUTH_REUSE_MS, first.deadline),
    );
  });

  it("a v2 credential verifies until its deadline, then is late; a v1 one (no deadline) verifies as before", () => {
    const at = 4_000_000;
    const deadline = at + 2_000;
    const header = signGatewayAttempt(secret, "POST", "/orders", at, deadline);
    const verifier = new GatewayCredentialVerifier(secret);
    for (let round = 0; round < 2; round++) {
      expect(verifier.verify(header, "POST", "/orders", deadline)).toBe("ok");
      expect(verifier.verify(header, "POST", "/orders", deadline + 1)).toBe("late");
      expect(verifyGatewayCredential(secret, header, "POST", "/orders", deadline + 1)).toBe("late");
    }
    // The deadline is signed: moving it later breaks the MAC.
    const moved = header.replace(`.${deadline}.`, `.${deadline + 60_000}.`);
    expect(verifier.verify(moved, "POST", "/orders", deadline + 1)).toBe("invalid");
    // A forged MAC is never "late" (a stranger learns nothing).
    const forged = signGatewayAttempt("b".repeat(64), "POST", "/orders", at, deadline);
    expect(verifier.verify(forged, "POST", "/orders", deadline + 1)).toBe("invalid");
    // Old gateways' v1 headers (rolling deploy): no deadline, the 30 s window only.
    const v1 = signGatewayRequest(secret, "POST", "/orders", at);
    expect(verifier.verify(v1, "POST", "/orders", at + GATEWAY_AUTH_WINDOW_MS)).toBe("ok");
  });

  it("a verifier answers as verifyGatewayCredential, also for a header it verified before", () => {
    const verifier = new GatewayCredentialVerifier(secret);
    const at = 3_000_000;
    const header = signGatewayRequest(secret, "POST", "/orders", at);
    const tampered = header.slice(0, -1) + (header.endsWith("0") ? "1" : "0");
    for (let round = 0; round < 2; round++) {
      expect(verifier.verify(header, "POST", "/orders", at + 10)).toBe("ok");
      expect(verifier.verify(tampered, "POST", "/orders", at + 10)).toBe("invalid");
      expect(verifier.verify(header, "POST", "/orders?x=1", at + 10)).toBe("invalid");
      expect(verifier.verify(header, "DELETE", "/orders", at + 10)).toBe("invalid");
      expect(verifier.verify(header, "POST", "/orders", at + GATEWAY_AUTH_WINDOW_MS + 1)).toBe("expired");
      expect(verifier.verify(undefined, "POST", "/orders", at)).toBe("missing");
    }
    expect(new GatewayCredentialVerifier("b".repeat(64)).verify(header, "POST", "/orders", at)).toBe(
      "invalid",
    );
  });
});

describe("a service's credential check after a step of the shared clock (clocksync9)", () => {
  it("re-syncs before refusing a genuine credential out of its window and checks it again; a wrong MAC never re-syncs", async () => {
    let now = 1_700_000_000_000;
    let resyncs = 0;
    const app = createHttpServer({});
    installGatewayCredentialCheck(
      app,
      secret,
      () => now,
      async () => {
        resyncs++;
        now -= 60_000; // the service follows a 60 s backward step the gateway followed first
      },
    );
    app.get("/x", async () => ({ ok: true }));
    const signedAt = now - 60_000;
    const ok = await app.inject({
      url: "/x",
      headers: { [GATEWAY_AUTH_HEADER]: signGatewayRequest(secret, "GET", "/x", signedAt) },
    });
    expect(ok.statusCode).toBe(200);
    expect(resyncs).toBe(1);
    const forged = await app.inject({
      url: "/x",
      headers: { [GATEWAY_AUTH_HEADER]: signGatewayRequest("b".repeat(64), "GET", "/x", now - 120_000) },
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toMatchObject({ error: { code: "GATEWAY_AUTH_INVALID" } });
    expect(resyncs).toBe(1);
    // Still out of the window after the re-sync: refused.
    const stale = await app.inject({
      url: "/x",
      headers: { [GATEWAY_AUTH_HEADER]: signGatewayRequest(secret, "GET", "/x", now + 120_000) },
    });
    expect(stale.statusCode).toBe(403);
    expect(resyncs).toBe(2);
    await app.close();
  });
});
