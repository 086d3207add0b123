import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { newInstanceId } from "./service-host.js";

describe("default INSTANCE_ID", () => {
  it("is the same for every start of one process slot, so a restart leaves no dead consumer", () => {
    const first = newInstanceId("slotted", { INSTANCE_SLOT: "2" });
    expect(first).toBe(`slotted-${hostname()}-2`);
  });

  it("takes pm2's NODE_APP_INSTANCE as the slot, else the process id (PID 1 in a container)", () => {
    expect(newInstanceId("pm2", { NODE_APP_INSTANCE: "0" })).toBe(`pm2-${hostname()}-0`);
    expect(newInstanceId("bare", {})).toBe(`bare-${hostname()}-${process.pid}`);
  });

  it("differs for a second instance of one service in the same process", () => {
    const a = newInstanceId("twice", { INSTANCE_SLOT: "1" });
    const b = newInstanceId("twice", { INSTANCE_SLOT: "1" });
    expect(a).not.toBe(b);
    expect(b).toBe(`${a}-2`);
  });
});
