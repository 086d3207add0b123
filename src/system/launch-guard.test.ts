import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Keyring, signingKeyPrint } from "../lib/security/keyring.js";
import { signingKeysMismatch } from "./launch-guard.js";

describe("signingKeysMismatch (--add-instances)", () => {
  const oldSecret = randomBytes(32);
  const newSecret = randomBytes(32);
  const running = (ring: Keyring) => [
    {
      service: "order",
      instanceId: "order-1",
      url: "http://127.0.0.1:1",
      signingKey: signingKeyPrint(ring.current("order")!),
    },
  ];
  const before = new Keyring([{ service: "order", kid: "order-1", secret: oldSecret }]);

  it("accepts the running system's keys", () => {
    const same = new Keyring([{ service: "order", kid: "order-1", secret: oldSecret }]);
    expect(signingKeysMismatch(running(before), same)).toBeUndefined();
  });

  it("accepts a rotation's list: a new current key, the running instances' key kept for verifying (break18 F2)", () => {
    // README "Rotating signing keys", step 2: the new key first (current), the old one still listed.
    const rotated = new Keyring([
      { service: "order", kid: "order-2", secret: newSecret },
      { service: "order", kid: "order-1", secret: oldSecret },
    ]);
    expect(signingKeysMismatch(running(before), rotated)).toBeUndefined();
  });

  it("refuses a list that holds the running key id with another secret, or not at all", () => {
    const otherSecret = new Keyring([{ service: "order", kid: "order-1", secret: newSecret }]);
    expect(signingKeysMismatch(running(before), otherSecret)).toMatch(
      /"order-1", which they hold with another secret/,
    );
    const unknown = new Keyring([{ service: "order", kid: "order-2", secret: newSecret }]);
    expect(signingKeysMismatch(running(before), unknown)).toMatch(
      /signs with key id "order-1", they with "order-2"/,
    );
  });
});
