import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createLogger,
  formatPretty,
  LoggerConfigError,
  type LoggerOptions,
  withCorrelation,
} from "./logger.js";

function capture(options: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const logger = createLogger({
    service: "payment",
    level: "info",
    destination: { write: (line: string) => lines.push(line) },
    ...options,
  });
  const records = (): Record<string, unknown>[] =>
    lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records };
}

describe("createLogger", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("writes JSON lines with service, instance, level name and ISO time", () => {
    const { logger, records } = capture({ instance: "payment-1" });
    logger.info({ orderId: "o-1" }, "charged");
    const [line] = records();
    expect(line).toMatchObject({
      service: "payment",
      instance: "payment-1",
      level: "info",
      msg: "charged",
      orderId: "o-1",
    });
    expect(String(line?.time)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(line).not.toHaveProperty("pid");
  });

  it("writes one service key per line, the logger's own; another service named in a line is peerService", () => {
    const { logger, lines, records } = capture({ instance: "payment-1" });
    logger.info({ service: "payment", instanceId: "x" }, "registered");
    logger.warn({ service: "inventory" }, "upstream failed");
    for (const line of lines) expect(line.match(/"service":/g)).toHaveLength(1);
    expect(records()[0]).toMatchObject({ service: "payment", instanceId: "x" });
    expect(records()[1]).toMatchObject({ service: "payment", peerService: "inventory" });
  });

  it("names the logger's own instance once: an instanceId equal to it is dropped, another one kept", () => {
    const { logger, lines, records } = capture({ instance: "payment-1" });
    logger.info({ instanceId: "payment-1" }, "service registered");
    logger.info({ instance: "payment-1" }, "again");
    logger.warn({ instanceId: "inventory-2" }, "instance deregistered");
    for (const line of lines) expect(line.match(/"instance":/g)).toHaveLength(1);
    expect(records()[0]).not.toHaveProperty("instanceId");
    expect(records()[2]).toMatchObject({ instance: "payment-1", instanceId: "inventory-2" });
  });

  it("redacts secrets at the top level and nested up to three levels", () => {
    const { logger, records } = capture();
    logger.info(
      {
        paymentToken: "tok_visa",
        password: "hunter2",
        payment: { token: "tok_1", card: { number: "4242" } },
        req: { headers: { authorization: "Bearer abc", accept: "json" } },
        order: { payment: { details: { cardNumber: "4111111111111111" } } },
      },
      "incoming",
    );
    const text = JSON.stringify(records()[0]);
    for (const secret of ["tok_visa", "hunter2", "tok_1", "4242", "Bearer abc", "4111111111111111"]) {
      expect(text).not.toContain(secret);
    }
    expect(records()[0]).toMatchObject({
      paymentToken: "[REDACTED]",
      payment: { token: "[REDACTED]", card: "[REDACTED]" },
      req: { headers: { authorization: "[REDACTED]", accept: "json" } },
    });
  });

  it("redacts extra paths given by the caller", () => {
    const { logger, records } = capture({ redact: ['headers["x-api-key"]'] });
    logger.info({ headers: { "x-api-key": "k-123" } }, "call");
    expect(records()[0]).toMatchObject({ headers: { "x-api-key": "[REDACTED]" } });
  });

  it("filters by LOG_LEVEL when no level is given", () => {
    vi.stubEnv("LOG_LEVEL", "warn");
    const { logger, records } = capture({ level: undefined });
    logger.info("hidden");
    logger.warn("shown");
    expect(records().map((r) => r.msg)).toEqual(["shown"]);
  });

  it("defaults to info when LOG_LEVEL is unset", () => {
    vi.stubEnv("LOG_LEVEL", undefined);
    const { logger, records } = capture({ level: undefined });
    logger.debug("hidden");
    logger.info("shown");
    expect(records().map((r) => r.msg)).toEqual(["shown"]);
  });

  it("fails fast on an unknown level", () => {
    expect(() => capture({ level: "verbose" })).toThrow(LoggerConfigError);
  });

  it("pretty mode writes one readable line instead of JSON, still redacted", () => {
    const { logger, lines } = capture({ pretty: true, instance: "p1" });
    withCorrelation(logger, "corr-9").warn({ token: "secret", attempt: 2 }, "retrying");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} WARN {2}payment\[p1\] \(corr-9\) retrying /);
    expect(lines[0]).toContain("attempt=2");
    expect(lines[0]).toContain("token=[REDACTED]");
    expect(lines[0]).not.toContain("secret");
  });
});

describe("withCorrelation", () => {
  it("stamps correlationId and extra bindings on every line of the child", () => {
    const { logger, records } = capture();
    const child = withCorrelation(logger, "corr-1", { orderId: "o-7" });
    child.info("one");
    child.error("two");
    logger.info("parent");
    expect(records().map((r) => [r.msg, r.correlationId, r.orderId])).toEqual([
      ["one", "corr-1", "o-7"],
      ["two", "corr-1", "o-7"],
      ["parent", undefined, undefined],
    ]);
    expect(records()[0]?.service).toBe("payment");
  });
});

describe("formatPretty", () => {
  it("returns a non-JSON line as it is", () => {
    expect(formatPretty("plain text\n")).toBe("plain text");
  });
});
