/**
 * Issue 10 input 7: every status and error code the API answers with is documented. The test walks
 * every operation of the gateway's own OpenAPI document over real HTTP against the whole system
 * (embedded), with good and bad input, and checks each answer's status is listed for the operation
 * and each error code is in the OpenAPI code list and in the README's error table.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../lib/http/error-codes.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "../system/embedded.js";

type Operation = { responses: Record<string, unknown>; requestBody?: unknown; parameters?: { in: string }[] };
type OpenApi = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } } };
};

let system: EmbeddedSystem;
let doc: OpenApi;
const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

beforeAll(async () => {
  system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
  doc = (await (await fetch(`${system.gatewayUrl}/openapi.json`)).json()) as OpenApi;
});
afterAll(async () => {
  await system?.stop();
});

interface Probe {
  what: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Good and bad requests for one operation. */
function probes(path: string, method: string, op: Operation): Probe[] {
  const verb = method.toUpperCase();
  const url = path.replace(/\{[^}]+\}/g, "no-such-id");
  const json = { "content-type": "application/json" };
  const list: Probe[] = [
    { what: "plain", method: verb, url, ...(op.requestBody ? { headers: json, body: "{}" } : {}) },
  ];
  if (op.parameters?.some((p) => p.in === "query")) {
    list.push({ what: "bad query", method: verb, url: `${url}?limit=abc&from=x&cursor=!!&olderThan=abc` });
  }
  if (path.includes("{")) {
    list.push({ what: "bad escape", method: verb, url: path.replace(/\{[^}]+\}/, "%E0%A4%A") });
  }
  // Over Node's 16 KiB limit for the request line and headers: answered before any route runs.
  list.push({ what: "long query", method: verb, url: `${url}?q=${"x".repeat(20_000)}` });
  if (op.requestBody) {
    list.push({ what: "malformed json", method: verb, url, headers: json, body: "{oops" });
    list.push({
      what: "text body",
      method: verb,
      url,
      headers: { "content-type": "text/plain" },
      body: "hi",
    });
    list.push({
      what: "huge body",
      method: verb,
      url,
      headers: json,
      body: JSON.stringify({ x: "y".repeat(70_000) }),
    });
  }
  return list;
}

describe("every answer of the API is documented", () => {
  it("lists the error code table in the README with every code of the catalog, and the same in OpenAPI", () => {
    const documented = doc.components.schemas.Error.properties.error.properties.code.enum;
    for (const code of Object.keys(ERROR_CODES)) {
      expect(documented).toContain(code);
      expect(readme).toContain(`| \`${code}\` |`);
    }
  });

  it("lists only codes the source answers with (a documented code nothing returns misleads)", () => {
    const root = new URL("../", import.meta.url);
    const sources = (readdirSync(root, { recursive: true }) as string[])
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith("error-codes.ts"))
      .map((f) => readFileSync(new URL(f, root), "utf8"))
      .join("\n");
    const unused = Object.keys(ERROR_CODES).filter((code) => !sources.includes(`"${code}"`));
    expect(unused).toEqual([]);
  });

  it("answers every operation, good or bad input, only with documented statuses and codes", async () => {
    const codes = new Set(doc.components.schemas.Error.properties.error.properties.code.enum);
    const problems: string[] = [];
    let answers = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        for (const probe of [
          ...probes(path, method, op),
          { what: "wrong method", method: "PATCH", url: path.replace(/\{[^}]+\}/g, "x") },
        ]) {
          const res = await fetch(`${system.gatewayUrl}${probe.url}`, {
            method: probe.method,
            ...(probe.headers ? { headers: probe.headers } : {}),
            ...(probe.body === undefined ? {} : { body: probe.body }),
          });
          answers++;
          const text = await res.text();
          const where = `${probe.method} ${probe.url.slice(0, 60)} (${probe.what}) → ${res.status}`;
          const wrongMethod = probe.what === "wrong method";
          if (!wrongMethod && !(String(res.status) in op.responses))
            problems.push(`${where}: status not documented`);
          if (wrongMethod && res.status !== 405) problems.push(`${where}: expected 405`);
          if (res.status >= 400) {
            const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "(no code)";
            if (!codes.has(code) || !readme.includes(`| \`${code}\` |`))
              problems.push(`${where}: code ${code} not documented`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(answers).toBeGreaterThan(60);
  });
});
