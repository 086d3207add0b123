import { describe, expect, it } from "vitest";
import { GATEWAY_AUTH_WINDOW_MS, signGatewayRequest, verifyGatewayCredential } from "./gateway-credential.js";

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
