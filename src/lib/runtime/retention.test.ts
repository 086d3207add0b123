import { describe, expect, it } from "vitest";
import { DEFAULT_SAGA_OPTIONS } from "../../services/order/saga-model.js";
import { parseEnv, serviceEnvSchema } from "./config.js";
import {
  DEFAULT_COMPENSATION_WINDOW_MS,
  DEFAULT_MUST_COMPLETE_WINDOW_MS,
  DEFAULT_RETENTION,
  MARKER_TTL_MARGIN,
  retentionEnvSchema,
  retentionFromEnv,
} from "./retention.js";

const policy = (env: NodeJS.ProcessEnv) => retentionFromEnv(parseEnv(retentionEnvSchema, env));

describe("retention policy from the environment", () => {
  it("keeps marks 7 days, group-less streams 1 h, the DLQ audit 30 days and every order view by default", () => {
    expect(policy({})).toEqual(DEFAULT_RETENTION);
    expect(DEFAULT_RETENTION).toMatchObject({
      markerTtlMs: 7 * 86_400_000,
      streamRetentionMs: 3_600_000,
      dlqAuditRetentionMs: 30 * 86_400_000,
      orderViewRetentionMs: undefined,
    });
  });

  it("reads every setting", () => {
    expect(
      policy({
        MARKER_TTL_MS: "1000",
        BUS_MUST_COMPLETE_WINDOW_MS: "800",
        SAGA_COMPENSATION_WINDOW_MS: "500",
        STREAM_TRIM_INTERVAL_MS: "2000",
        STREAM_RETENTION_MS: "3000",
        STREAM_MAXLEN_WITHOUT_GROUPS: "4000",
        DLQ_AUDIT_RETENTION_MS: "5000",
        ORDER_VIEW_RETENTION_MS: "6000",
      }),
    ).toEqual({
      markerTtlMs: 1000,
      streamTrimIntervalMs: 2000,
      streamRetentionMs: 3000,
      streamMaxLenWithoutGroups: 4000,
      dlqAuditRetentionMs: 5000,
      orderViewRetentionMs: 6000,
    });
  });

  it("refuses a bad value or a view retention shorter than the marks live, naming the setting", () => {
    expect(() => policy({ MARKER_TTL_MS: "soon" })).toThrow(/MARKER_TTL_MS/);
    expect(() => policy({ MARKER_TTL_MS: "0" })).toThrow(/MARKER_TTL_MS/);
    expect(() => policy({ ORDER_VIEW_RETENTION_MS: "60000" })).toThrow(/ORDER_VIEW_RETENTION_MS/);
  });

  it("refuses marks that expire before the must-complete or the compensation window ends, naming both", () => {
    expect(() => policy({ MARKER_TTL_MS: String(3_600_000) })).toThrow(
      /MARKER_TTL_MS \(3600000 ms\) must be at least 27000000 ms: BUS_MUST_COMPLETE_WINDOW_MS \(21600000 ms\) and SAGA_COMPENSATION_WINDOW_MS \(21600000 ms\) plus 25%/,
    );
    expect(() =>
      policy({
        MARKER_TTL_MS: "25000",
        BUS_MUST_COMPLETE_WINDOW_MS: "20000",
        SAGA_COMPENSATION_WINDOW_MS: "30000",
      }),
    ).toThrow(/at least 37500 ms: SAGA_COMPENSATION_WINDOW_MS \(30000 ms\) plus 25%/);
  });

  it("refuses marks that live exactly as long as a window: a dead letter of its end could never be retried", () => {
    // break-11 F5: equal settings dead-lettered compensations as TOO_OLD, and every retry again.
    expect(() =>
      policy({
        MARKER_TTL_MS: "20000",
        BUS_MUST_COMPLETE_WINDOW_MS: "20000",
        SAGA_COMPENSATION_WINDOW_MS: "20000",
      }),
    ).toThrow(/MARKER_TTL_MS \(20000 ms\) must be at least 25000 ms/);
    expect(MARKER_TTL_MARGIN).toBe(0.25);
    expect(
      policy({
        MARKER_TTL_MS: "25000",
        BUS_MUST_COMPLETE_WINDOW_MS: "20000",
        SAGA_COMPENSATION_WINDOW_MS: "20000",
      }).markerTtlMs,
    ).toBe(25_000);
    // The defaults leave far more: 7 days against 6 h windows.
    expect(policy({}).markerTtlMs).toBe(7 * 86_400_000);
  });

  it("defaults the windows it checks against as their owners do", () => {
    expect(DEFAULT_MUST_COMPLETE_WINDOW_MS).toBe(parseEnv(serviceEnvSchema, {}).BUS_MUST_COMPLETE_WINDOW_MS);
    expect(DEFAULT_COMPENSATION_WINDOW_MS).toBe(DEFAULT_SAGA_OPTIONS.compensationWindowMs);
  });
});
