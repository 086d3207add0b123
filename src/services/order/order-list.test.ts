import { expect, it } from "vitest";
import { decodeCursor, encodeCursor, listMember, MemoryOrderListIndex } from "./order-list.js";
import { runOrderListContract } from "./order-list-contract.js";

runOrderListContract("memory", async () => new MemoryOrderListIndex());

it("round-trips the cursors it issues and refuses others", () => {
  const member = listMember("0190-abc", 1_700_000_000_000);
  expect(decodeCursor(encodeCursor(member))).toBe(member);
  expect(decodeCursor("abc")).toBeUndefined();
  expect(decodeCursor(encodeCursor("1:x"))).toBeUndefined();
});
