import { describe, expect, it } from "vitest";
import { formatTimeline } from "./order-timeline.js";

const history = {
  orderId: "o-1",
  events: [
    { type: "order.event.created", version: 1, time: "2026-01-01T00:00:00.000Z", data: {} },
    {
      type: "order.event.step.requested",
      version: 2,
      time: "2026-01-01T00:00:00.005Z",
      data: { step: "validation", attempt: 1 },
    },
    {
      type: "order.event.status.changed",
      version: 3,
      time: "2026-01-01T00:00:00.120Z",
      data: { from: "pending", to: "failed", reason: "card declined" },
    },
  ],
};

describe("formatTimeline", () => {
  it("prints each event with its offset and the status changes, then the trace id and its link", () => {
    const text = formatTimeline({ ...history, traceId: "ab".repeat(16) }, "http://localhost:16686/");
    expect(text.split("\n")).toEqual([
      "order o-1",
      "  2026-01-01T00:00:00.000Z  +     0 ms  v1 order.event.created",
      "  2026-01-01T00:00:00.005Z  +     5 ms  v2 order.event.step.requested  validation (attempt 1)",
      "  2026-01-01T00:00:00.120Z  +   120 ms  v3 order.event.status.changed  pending → failed (card declined)",
      `trace id: ${"ab".repeat(16)}`,
      `open: http://localhost:16686/trace/${"ab".repeat(16)}`,
    ]);
  });

  it("names the compensations requested and the one each settled event confirms", () => {
    const text = formatTimeline({
      orderId: "o-2",
      events: [
        {
          type: "order.event.compensation.requested",
          version: 5,
          time: "2026-01-01T00:00:00.000Z",
          data: { compensations: ["inventory.release", "payment.refund"], reason: "shipping refused" },
        },
        {
          type: "order.event.compensation.settled",
          version: 6,
          time: "2026-01-01T00:00:00.040Z",
          data: { compensation: "payment.refund", outcome: "done", detail: "refunded", remaining: 1 },
        },
      ],
    });
    expect(text.split("\n").slice(1, 3)).toEqual([
      "  2026-01-01T00:00:00.000Z  +     0 ms  v5 order.event.compensation.requested  inventory.release, payment.refund (shipping refused)",
      "  2026-01-01T00:00:00.040Z  +    40 ms  v6 order.event.compensation.settled  payment.refund done (refunded), 1 remaining",
    ]);
  });

  it("says when the order has no trace", () => {
    expect(formatTimeline(history)).toMatch(/trace id: none \(the order was placed with tracing off\)$/);
  });
});
