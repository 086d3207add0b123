import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { heldKeysPrint, Keyring, parseHeldKeys, signingKeyPrint } from "../lib/security/keyring.js";
import { runningSystemMessage, signingKeysMismatch } from "./launch-guard.js";

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

  describe("a rotation's new key (newuser14 F2)", () => {
    const newKey = { service: "order", kid: "order-2", secret: newSecret };
    const oldKey = { service: "order", kid: "order-1", secret: oldSecret };
    const paymentKey = { service: "payment", kid: "payment-1", secret: randomBytes(32) };
    // Step 2 (the new key first) in the list given to --add-instances.
    const rotated = new Keyring([newKey, oldKey, paymentKey]);
    /** The running order instance and a payment instance that verifies order's events with `held`. */
    const system = (held: Keyring) => [
      ...running(before),
      {
        service: "payment",
        instanceId: "payment-1",
        url: "http://127.0.0.1:2",
        signingKey: signingKeyPrint(held.current("payment")!),
        heldKeys: heldKeysPrint(held),
      },
    ];

    it("refuses it when a running consumer of that service's events does not hold it (step 2 before step 1)", () => {
      const stepZero = new Keyring([paymentKey, oldKey]);
      expect(signingKeysMismatch(system(stepZero), rotated, ["order"])).toMatch(
        /order would sign with key id "order-2", which the running payment \(payment-1\) does not hold \(of order's keys it holds "order-1"\)/,
      );
    });

    it("accepts it once every running consumer holds it (step 1 done), and ignores instances that verify nothing of that service", () => {
      const stepOne = new Keyring([paymentKey, oldKey, newKey]);
      expect(signingKeysMismatch(system(stepOne), rotated, ["order"])).toBeUndefined();
      const paymentOnly = new Keyring([paymentKey]);
      expect(signingKeysMismatch(system(paymentOnly), rotated, ["order"])).toBeUndefined();
    });

    it("checks only the services it starts (an instance that advertises no held keys is not checked)", () => {
      const stepZero = new Keyring([paymentKey, oldKey]);
      expect(signingKeysMismatch(system(stepZero), rotated, ["payment"])).toBeUndefined();
      expect(signingKeysMismatch(running(before), rotated, ["order"])).toBeUndefined();
    });

    // newuser17 F2: a service of one's own (README step 4) signs with a key of its own, which the
    // system's processes never verify: not compared; but as a consumer of order's events it must
    // hold a rotation's new key like the system's own consumers (docs/security.md, step 1).
    it("does not compare the key a service of one's own signs with, but refuses a new key it does not hold", () => {
      const own = (held: Keyring) => ({
        service: "rewards",
        instanceId: "rewards-h-1",
        url: "http://127.0.0.1:3",
        signingKey: signingKeyPrint(held.current("rewards")!),
        heldKeys: heldKeysPrint(held),
      });
      const rewardsKey = { service: "rewards", kid: "rk1", secret: randomBytes(32) };
      const stepOne = new Keyring([paymentKey, oldKey, newKey]);
      const withOwn = (held: Keyring) => [...system(stepOne), own(held)];
      expect(
        signingKeysMismatch(withOwn(new Keyring([rewardsKey, oldKey, newKey])), rotated),
      ).toBeUndefined();
      expect(signingKeysMismatch(withOwn(new Keyring([rewardsKey, oldKey])), rotated, ["order"])).toMatch(
        /order would sign with key id "order-2", which the running rewards \(rewards-h-1\) does not hold/,
      );
    });

    it("advertises held keys as public prints that parse back, never a secret", () => {
      const text = heldKeysPrint(rotated);
      expect(text).not.toContain(newSecret.toString("base64"));
      expect(text).not.toContain(newSecret.toString("hex"));
      expect(parseHeldKeys(text)).toEqual([
        { service: "order", print: signingKeyPrint(rotated.byKid("order-2")!) },
        { service: "order", print: signingKeyPrint(rotated.byKid("order-1")!) },
        { service: "payment", print: signingKeyPrint(rotated.byKid("payment-1")!) },
      ]);
      expect(parseHeldKeys("order:k1,bad,:x:y")).toEqual([]);
    });
  });
});

// newuser16 F3: only processes added with --add-instances left running (their launch stopped): the
// refusal said "use it, e.g. npm run demo", and there was no gateway to use.
describe("runningSystemMessage", () => {
  const instance = (service: string, instanceId: string) => ({
    service,
    instanceId,
    url: `http://127.0.0.1:4000/${instanceId}`,
  });

  it("offers the running gateway when there is one, and says how to stop added processes when there is none", () => {
    const withGateway = runningSystemMessage("redis://r", [
      instance("gateway", "gateway-h-1"),
      instance("order", "order-h-1"),
    ]);
    expect(withGateway).toContain("use it (gateway http://127.0.0.1:4000/gateway-h-1)");
    const addedOnly = runningSystemMessage("redis://r", [instance("order", "order-h-add1.1")]);
    expect(addedOnly).not.toContain("use it");
    expect(addedOnly).toContain("it has no gateway to use: processes added with --add-instances");
  });
});
