import { describe, expect, it } from "vitest";
import { stopStep } from "./stop-step.js";

const recorder = () => {
  const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
  return {
    warnings,
    logger: { warn: (fields: Record<string, unknown>, msg: string) => void warnings.push({ fields, msg }) },
  };
};

describe("stopStep", () => {
  it("waits for a step within its budget, quietly", async () => {
    const { warnings, logger } = recorder();
    const finished = await stopStep(logger as never, "quick", 1_000, "n/a", async () => undefined);
    expect(finished).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("gives up a step at its budget with a warning naming it and why, and logs its later failure", async () => {
    const { warnings, logger } = recorder();
    let fail!: (error: Error) => void;
    const startedAt = performance.now();
    const finished = await stopStep(
      logger as never,
      "registry removal",
      100,
      "the entry expires",
      () => new Promise((_resolve, reject) => (fail = reject)),
    );
    expect(finished).toBe(false);
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    expect(warnings[0]?.fields).toMatchObject({ step: "registry removal", budgetMs: 100 });
    expect(warnings[0]?.msg).toBe(
      'stop step "registry removal" took over 100 ms: skipped (the entry expires)',
    );
    fail(new Error("Connection is closed."));
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings[1]?.fields).toMatchObject({ step: "registry removal" });
  });

  it("rejects when the step fails within its budget", async () => {
    const { logger } = recorder();
    await expect(
      stopStep(logger as never, "x", 1_000, "n/a", () => Promise.reject(new Error("boom"))),
    ).rejects.toThrow("boom");
  });
});
