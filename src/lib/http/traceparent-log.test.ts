/** The trace ids a 500's log line carries come from the one W3C parser (parseTraceparent). */
import { describe, expect, it } from "vitest";
import { INVALID_TRACEPARENTS, VALID_TRACEPARENT } from "../bus/traceparent.samples.js";
import { createHttpServer } from "./server.js";

async function loggedFields(traceparent: string): Promise<Record<string, unknown>> {
  const logged: Record<string, unknown>[] = [];
  const app = createHttpServer({
    tracing: false,
    errorLog: { error: (fields) => logged.push(fields as Record<string, unknown>) },
  });
  app.get("/boom", async () => {
    throw new Error("boom");
  });
  try {
    const res = await app.inject({ method: "GET", url: "/boom", headers: { traceparent } });
    expect(res.statusCode).toBe(500);
  } finally {
    await app.close();
  }
  expect(logged).toHaveLength(1);
  return logged[0]!;
}

describe("a failed request's log line", () => {
  it("carries the trace and span ids of a valid traceparent header", async () => {
    expect(await loggedFields(VALID_TRACEPARENT)).toMatchObject({
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      span_id: "b7ad6b7169203331",
    });
  });

  it.each(Object.entries(INVALID_TRACEPARENTS))(
    "carries no trace ids for a traceparent with %s",
    async (_reason, value) => {
      // The server kept its own looser regex: any version, all-zero ids were logged as trace ids.
      const fields = await loggedFields(value);
      expect(fields).not.toHaveProperty("trace_id");
      expect(fields).not.toHaveProperty("span_id");
    },
  );
});
