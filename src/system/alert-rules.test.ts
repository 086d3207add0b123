/**
 * The alert rules and the dashboard's queries, checked without a Prometheus (break13 F2, F5):
 * - a set operator (`and`, `or`, `unless`) matches series on their whole label set unless `on(...)`
 *   names the labels: both sides must carry the same labels, or `on(...)` must name labels both
 *   sides have (the lag alert's `sum by (service, topic) ... and delta(...)` matched nothing);
 * - consumer-group numbers (lag, pending), the stored compensations pending and Redis's memory (read
 *   by every gateway) are the same on every instance: aggregated with `max`, never summed (which
 *   counts them once per instance).
 * With promtool installed, `ops/prometheus/alerts.test.yml` also runs the rules over series.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = new URL("../../", import.meta.url);
const rules = parse(readFileSync(new URL("ops/prometheus/alerts.yml", root), "utf8")) as {
  groups: { rules: { alert: string; expr: string }[] }[];
};
const alerts = rules.groups.flatMap((g) => g.rules).map((r) => ({ name: r.alert, expr: r.expr }));
const dashboard = JSON.parse(
  readFileSync(new URL("ops/grafana/dashboards/ordersaga.json", root), "utf8"),
) as {
  panels: { title: string; targets?: { expr: string }[] }[];
};
const panelQueries = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ name: p.title, expr: t.expr })),
);

type Labels = ReadonlySet<string> | "all";

/** Splits an expression at its top-level set operators; each operator with its `on(...)` labels. */
export function splitSetOperators(expr: string): { operands: string[]; operators: { on?: string[] }[] } {
  const operands: string[] = [];
  const operators: { on?: string[] }[] = [];
  let depth = 0;
  let start = 0;
  const text = expr.replace(/\s+/g, " ");
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0) {
      const m = /^ (and|or|unless)\b\s*(?:(on|ignoring)\s*\(([^)]*)\))?/.exec(text.slice(i));
      if (!m) continue;
      operands.push(text.slice(start, i).trim());
      const labels = m[3]?.split(",").map((l) => l.trim()) ?? [];
      operators.push(m[2] === "on" ? { on: labels } : m[2] === "ignoring" ? { on: [] } : {});
      i += m[0].length - 1;
      start = i + 1;
    }
  }
  operands.push(text.slice(start).trim());
  return { operands, operators };
}

/** Output labels of an operand: an aggregation's `by (...)` labels, or "all" (a selector's). */
export function outputLabels(operand: string): Labels {
  const m = /^(?:sum|max|min|avg|count)\s*(?:by\s*\(([^)]*)\))?\s*\(/.exec(operand.trim());
  if (!m) return "all";
  return new Set(
    (m[1] ?? "")
      .split(",")
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

/** Why a set operator of the expression matches nothing (or the wrong series); empty when sound. */
export function setOperatorProblems(expr: string): string[] {
  const { operands, operators } = splitSetOperators(expr);
  const problems: string[] = [];
  operators.forEach((op, i) => {
    const left = outputLabels(operands[i]!);
    const right = outputLabels(operands[i + 1]!);
    const show = (l: Labels) => (l === "all" ? "all labels" : `{${[...l].join(",")}}`);
    if (op.on !== undefined) {
      for (const side of [left, right])
        if (side !== "all" && !op.on.every((l) => side.has(l)))
          problems.push(`on(${op.on.join(",")}) names labels missing from ${show(side)}`);
      return;
    }
    const same =
      left !== "all" && right !== "all" && left.size === right.size && [...left].every((l) => right.has(l));
    if (!same) problems.push(`${show(left)} vs ${show(right)} without on(...)`);
  });
  return problems;
}

/** Occurrences of a metric not aggregated directly by `max` (optionally over `delta(...)`). */
export function notMaxAggregated(expr: string, metric: string): number {
  const all = expr.match(new RegExp(`\\b${metric}\\b`, "g"))?.length ?? 0;
  const byMax =
    expr.match(new RegExp(`\\bmax\\s*(?:by\\s*\\([^)]*\\))?\\s*\\(\\s*(?:delta\\()?${metric}\\b`, "g"))
      ?.length ?? 0;
  return all - byMax;
}

describe("the label sets of the alert rules", () => {
  it("finds the mismatch that kept the lag alert from ever firing", () => {
    expect(
      setOperatorProblems(
        "sum by (service, topic) (ordersaga_consumer_lag_messages) > 100 and delta(ordersaga_consumer_lag_messages[10m]) > 0",
      ),
    ).toEqual(["{service,topic} vs all labels without on(...)"]);
    expect(setOperatorProblems("sum by (a) (x) > 1 and on (b) sum by (a) (y) > 0")).toEqual([
      "on(b) names labels missing from {a}",
      "on(b) names labels missing from {a}",
    ]);
  });

  it("has both sides of every set operator carry the labels it matches on", () => {
    for (const { name, expr } of [...alerts, ...panelQueries])
      expect(setOperatorProblems(expr), `${name}: ${expr}`).toEqual([]);
  });
});

describe("aggregation of numbers every instance exports alike", () => {
  const shared = [
    "ordersaga_consumer_lag_messages",
    "ordersaga_consumer_pending_messages",
    "ordersaga_saga_compensations_pending",
    "ordersaga_payment_orphan_scan_lag_seconds",
    // One Redis, read by every gateway.
    "ordersaga_redis_memory_used_bytes",
    "ordersaga_redis_maxmemory_bytes",
  ];

  it("flags a sum over instances", () => {
    expect(notMaxAggregated("sum by (service, topic) (ordersaga_consumer_lag_messages)", shared[0]!)).toBe(1);
  });

  it("takes the max of lag, pending and compensations pending in every alert and panel", () => {
    const uses = [...alerts, ...panelQueries].filter(({ expr }) => shared.some((m) => expr.includes(m)));
    expect(uses.length).toBeGreaterThanOrEqual(3);
    for (const { name, expr } of uses)
      for (const metric of shared) expect(notMaxAggregated(expr, metric), `${name}: ${expr}`).toBe(0);
  });
});

const promtool = spawnSync("promtool", ["--version"]).status === 0;

describe.skipIf(!promtool)("the alert rules under promtool", () => {
  it("fire (and stay quiet) on the series of ops/prometheus/alerts.test.yml", () => {
    const file = fileURLToPath(new URL("ops/prometheus/alerts.test.yml", root));
    const out = execFileSync("promtool", ["test", "rules", file], { encoding: "utf8" });
    expect(out).toContain("SUCCESS");
  });
});
