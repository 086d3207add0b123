/** The text timeline `npm run trace -- <orderId>` prints from `GET /orders/:id/events`. */

export interface OrderHistory {
  orderId: string;
  events: { type: string; version: number; time: string; data: Record<string, unknown> }[];
  /** Present when the order was placed with tracing on. */
  traceId?: string;
}

/**
 * One line per event: offset from the first in ms, version, type and, for a status change,
 * `from → to (reason)`, for a step its name and attempt, for a compensation which ones were
 * requested (and why) or which one settled and how; then the trace id (and a link when a tracing UI base URL is given).
 */
export function formatTimeline(history: OrderHistory, tracingUiUrl?: string): string {
  const start = history.events[0] ? Date.parse(history.events[0].time) : 0;
  const lines = [`order ${history.orderId}`];
  for (const e of history.events) {
    const offset = `+${String(Date.parse(e.time) - start).padStart(6)} ms`;
    const change =
      e.type === "order.event.status.changed"
        ? `  ${String(e.data.from)} → ${String(e.data.to)}${e.data.reason ? ` (${String(e.data.reason)})` : ""}`
        : e.type === "order.event.step.requested"
          ? `  ${String(e.data.step)} (attempt ${String(e.data.attempt)})`
          : e.type === "order.event.compensation.requested"
            ? `  ${listOf(e.data.compensations)}${e.data.reason ? ` (${String(e.data.reason)})` : ""}`
            : e.type === "order.event.compensation.settled"
              ? `  ${String(e.data.compensation)} ${String(e.data.outcome)}` +
                `${e.data.detail ? ` (${String(e.data.detail)})` : ""}, ${String(e.data.remaining)} remaining`
              : "";
    lines.push(`  ${e.time}  ${offset}  v${e.version} ${e.type}${change}`);
  }
  if (history.traceId) {
    lines.push(`trace id: ${history.traceId}`);
    if (tracingUiUrl) lines.push(`open: ${tracingUiUrl.replace(/\/$/, "")}/trace/${history.traceId}`);
  } else {
    lines.push("trace id: none (the order was placed with tracing off)");
  }
  return lines.join("\n");
}

function listOf(value: unknown): string {
  return Array.isArray(value) ? value.map(String).join(", ") : String(value);
}
