import { describe, expect, it } from "vitest";
import { LeaseSignal } from "./lease-signal.js";

describe("LeaseSignal", () => {
  it("aborts a signal already handed out, with the lease's reason", () => {
    const lease = new LeaseSignal();
    const { signal } = lease;
    const seen: unknown[] = [];
    signal.addEventListener("abort", () => seen.push(signal.reason));
    const reason = new Error("lease lost");
    lease.abort(reason);
    expect(lease.aborted).toBe(true);
    expect(signal.aborted).toBe(true);
    expect(seen).toEqual([reason]);
  });

  it("hands out an already aborted signal when asked after the lease ended", () => {
    const lease = new LeaseSignal();
    const reason = new Error("maxLeaseMs reached");
    lease.abort(reason);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBe(reason);
  });

  it("keeps the first reason: a later abort changes nothing", () => {
    const lease = new LeaseSignal();
    const first = new Error("maxLeaseMs reached");
    lease.abort(first);
    lease.abort(new Error("lease lost"));
    expect(lease.signal.reason).toBe(first);
  });

  it("is one signal for every reader, not aborted while the lease holds", () => {
    const lease = new LeaseSignal();
    expect(lease.aborted).toBe(false);
    expect(lease.signal).toBe(lease.signal);
    expect(lease.signal.aborted).toBe(false);
  });
});
