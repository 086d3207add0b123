/**
 * break35 F8: the user store's create script is a traced Redis call whose span showed its first key,
 * the email claim `{user}:email:<blind index>`: a 201 and a 409 for one address carried the same
 * value, so whoever reads traces could link them to one person. Spans now show the family only.
 */
import { createSecretKey, randomBytes } from "node:crypto";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { expect, it } from "vitest";
import { withSpan } from "../../lib/observability/spans.js";
import { initTracing } from "../../lib/observability/tracing.js";
import { FieldCipher } from "../../lib/security/encryption.js";
import { UserDataCipher } from "../../lib/security/user-data.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { newUser } from "./domain.js";
import { RedisUserStore } from "./redis-store.js";

describeWithRedis("the user store's spans", (getRedis) => {
  it("name the email claim's family, never its blind index", async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ service: "user", env: {}, spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const cipher = new UserDataCipher(
      new FieldCipher([{ kid: "k1", secret: randomBytes(32) }]),
      createSecretKey(randomBytes(32)),
    );
    const store = new RedisUserStore(getRedis().client(), cipher);
    const user = (id: string) =>
      newUser({ email: "Link@Example.com", name: "L" }, id, "2024-01-01T00:00:00.000Z");
    await withSpan("POST /users", {}, () => store.create(user("u-1"), []));
    await withSpan("POST /users", {}, () => store.create(user("u-2"), []));
    const index = cipher.emailIndex("link@example.com");
    const attributes = exporter.getFinishedSpans().flatMap((s) => Object.values(s.attributes).map(String));
    expect(attributes).toContain("{user}:email:<blind index>");
    expect(attributes.filter((value) => value.includes(index))).toEqual([]);
  });
});
