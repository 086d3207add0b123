import { describe, expect, it } from "vitest";
import {
  assertUniqueLines,
  commitStock,
  decideCommit,
  decideRelease,
  decideReservation,
  newProduct,
  type Product,
  releaseStock,
  reservationRecord,
  reservationSignature,
  reserveStock,
  stockTotal,
} from "./domain.js";

const product = (productId: string, available: number, price = 100, lowStockThreshold = 10): Product => ({
  ...newProduct({ productId, name: productId, price, quantity: available, lowStockThreshold }),
});

describe("decideReservation", () => {
  it("reserves every line with its unit price and the order total", () => {
    const lines = [
      { productId: "a", quantity: 2 },
      { productId: "b", quantity: 1 },
    ];
    const decision = decideReservation(undefined, lines, [product("a", 50, 300), product("b", 50, 50)]);
    expect(decision).toEqual({
      kind: "reserved",
      items: [
        { productId: "a", quantity: 2, unitPrice: 300 },
        { productId: "b", quantity: 1, unitPrice: 50 },
      ],
      total: 650,
      lowStock: [],
    });
  });

  it("fails with out_of_stock listing only the short lines when any line is short", () => {
    const lines = [
      { productId: "a", quantity: 2 },
      { productId: "b", quantity: 9 },
    ];
    const decision = decideReservation(undefined, lines, [product("a", 50), product("b", 4)]);
    expect(decision).toEqual({
      kind: "failed",
      reason: "out_of_stock",
      items: [{ productId: "b", requested: 9, available: 4 }],
    });
  });

  it("prefers unknown_product over out_of_stock, reporting 0 available", () => {
    const lines = [
      { productId: "a", quantity: 99 },
      { productId: "ghost", quantity: 1 },
    ];
    const decision = decideReservation(undefined, lines, [product("a", 1), undefined]);
    expect(decision).toEqual({
      kind: "failed",
      reason: "unknown_product",
      items: [{ productId: "ghost", requested: 1, available: 0 }],
    });
  });

  it("alerts low stock only for a product crossing its threshold downward", () => {
    const lines = [
      { productId: "crosses", quantity: 2 },
      { productId: "already-low", quantity: 1 },
      { productId: "stays-high", quantity: 1 },
    ];
    const products = [
      product("crosses", 11, 1, 10),
      product("already-low", 5, 1, 10),
      product("stays-high", 20, 1, 10),
    ];
    const decision = decideReservation(undefined, lines, products);
    expect(decision.kind === "reserved" && decision.lowStock).toEqual([
      { productId: "crosses", available: 9, threshold: 10 },
    ]);
  });

  it("reserves exactly the last units", () => {
    const decision = decideReservation(undefined, [{ productId: "a", quantity: 5 }], [product("a", 5)]);
    expect(decision.kind).toBe("reserved");
  });

  it("is a duplicate whatever the existing reservation's state, tombstones included", () => {
    for (const state of ["reserved", "failed", "released", "committed"] as const) {
      const existing = { orderId: "o", state, items: [] };
      expect(decideReservation(existing, [{ productId: "a", quantity: 1 }], [product("a", 9)])).toEqual({
        kind: "duplicate",
        state,
      });
    }
  });
});

describe("reservationSignature", () => {
  const lines = [
    { productId: "a", quantity: 1 },
    { productId: "b", quantity: 3 },
  ];

  it("describes a reservation by its threshold crossings (1-based lines)", () => {
    const decision = decideReservation(undefined, lines, [product("a", 50), product("b", 12)]);
    if (decision.kind === "duplicate") throw new Error("unexpected duplicate");
    expect(reservationSignature(lines, decision)).toBe("R:2=9");
  });

  it("describes failures by line and available stock", () => {
    const short = decideReservation(undefined, lines, [product("a", 0), product("b", 2)]);
    const unknown = decideReservation(undefined, lines, [undefined, product("b", 2)]);
    if (short.kind === "duplicate" || unknown.kind === "duplicate") throw new Error("unexpected duplicate");
    expect(reservationSignature(lines, short)).toBe("S:1=0:2=2");
    expect(reservationSignature(lines, unknown)).toBe("U:1");
  });
});

describe("release and commit decisions", () => {
  const reserved = reservationRecord("o1", {
    kind: "reserved",
    items: [{ productId: "a", quantity: 2, unitPrice: 100 }],
    total: 200,
    lowStock: [],
  });

  it("releases and commits a reserved order's lines without prices", () => {
    expect(decideRelease(reserved)).toEqual({ kind: "release", items: [{ productId: "a", quantity: 2 }] });
    expect(decideCommit(reserved)).toEqual({ kind: "commit", items: [{ productId: "a", quantity: 2 }] });
  });

  it("leaves a tombstone when the release comes before any reservation", () => {
    expect(decideRelease(undefined)).toEqual({ kind: "tombstone" });
  });

  it("does nothing to failed, released or committed reservations", () => {
    for (const state of ["failed", "released", "committed"] as const) {
      const existing = { ...reserved, state };
      expect(decideRelease(existing)).toEqual({ kind: "noop", state });
      expect(decideCommit(existing)).toEqual({ kind: "noop", state });
    }
  });

  it("commits nothing for an unknown order", () => {
    expect(decideCommit(undefined)).toEqual({ kind: "noop", state: "none" });
  });
});

describe("stock movements", () => {
  it("keep the total stocked through reserve, release and commit", () => {
    const start = product("a", 10);
    const afterReserve = reserveStock(start, 4);
    const afterCommit = commitStock(reserveStock(afterReserve, 3), 3);
    const afterRelease = releaseStock(afterCommit, 4);
    expect(afterRelease).toMatchObject({ available: 7, reserved: 0, committed: 3 });
    for (const p of [afterReserve, afterCommit, afterRelease]) expect(stockTotal(p)).toBe(10);
  });

  it("rejects an order naming one product twice", () => {
    expect(() =>
      assertUniqueLines([
        { productId: "a", quantity: 1 },
        { productId: "a", quantity: 2 },
      ]),
    ).toThrow(expect.objectContaining({ code: "DUPLICATE_LINES" }));
  });
});
