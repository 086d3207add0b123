/**
 * Every log line the running system writes is one JSON object with each key once (issue 10 input 14,
 * `"service"` twice; and the new-user trial's debug lines with `event`, `messageId` and
 * `correlationId` twice: bound by the message's child logger and repeated by the line). JSON.parse
 * keeps the last of two equal keys, so the keys are read from the text itself.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { waitFor } from "../test-support/wait.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

/** The keys of every object in a JSON text, in order, per object (nested objects separately). */
function objectKeys(json: string): string[][] {
  const objects: string[][] = [];
  const open: (string[] | null)[] = []; // null: an array
  let i = 0;
  const readString = (): string => {
    const start = i;
    i++; // opening quote
    while (json[i] !== '"') i += json[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(json.slice(start, i)) as string;
  };
  while (i < json.length) {
    const c = json[i]!;
    if (c === '"') {
      const text = readString();
      const top = open.at(-1);
      let j = i;
      while (json[j] === " ") j++;
      if (top && json[j] === ":") top.push(text);
      continue;
    }
    if (c === "{") open.push([]);
    else if (c === "[") open.push(null);
    else if (c === "}" || c === "]") {
      const closed = open.pop();
      if (closed) objects.push(closed);
    }
    i++;
  }
  return objects;
}

const repeated = (keys: string[]) => keys.filter((key, index) => keys.indexOf(key) !== index);

it("objectKeys reads repeated keys that JSON.parse would drop", () => {
  expect(objectKeys('{"a":1,"b":{"c":"x\\"y:","c":2},"a":[{"d":1}]}')).toEqual([
    ["c", "c"],
    ["d"],
    ["a", "b", "a"],
  ]);
});

describe("log lines of a handled order", () => {
  let system: EmbeddedSystem;
  const lines: string[] = [];

  beforeAll(async () => {
    system = await startEmbeddedSystem({
      gatewayPort: 0,
      // Debug: the most the services ever write (every message handled is a line).
      logLevel: "debug",
      pretty: false,
      logDestination: { write: (line) => void lines.push(line) },
    });
  }, 60_000);
  afterAll(async () => {
    await system?.stop();
  });

  it("have each key once, and one service", async () => {
    const api = createApiClient(system.gatewayUrl);
    const user = await api.post<{ id: string }>("/users", {
      email: `logs-${Date.now()}@example.com`,
      name: "Logs",
    });
    const placed = await api.post<{ orderId: string }>(
      "/orders",
      {
        userId: user.body.id,
        items: [{ productId: "prod-cable", quantity: 1 }],
        payment: { token: "tok_ok" },
      },
      { "Idempotency-Key": crypto.randomUUID() },
    );
    expect(placed.status).toBe(202);
    await waitFor(
      () => lines.some((line) => line.includes('"msg":"event handled"') && line.includes("order.completed")),
      30_000,
      "the order's completion handled",
    );
    const handled = lines.filter((line) => line.includes('"msg":"event handled"'));
    expect(handled.length).toBeGreaterThan(5);
    const problems = lines.flatMap((line) =>
      objectKeys(line)
        .map(repeated)
        .filter((keys) => keys.length > 0)
        .map((keys) => `${keys.join(",")} twice in ${line.trim().slice(0, 300)}`),
    );
    expect(problems).toEqual([]);
    for (const line of handled) expect(JSON.parse(line)).toMatchObject({ event: expect.any(String) });
  }, 60_000);
});
