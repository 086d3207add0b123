/**
 * break32 F1, with real processes: the README's production recipe puts every per-process secret in
 * the launcher's environment (each Redis user's password, the `ops` one included; compose's
 * per-service signing keys and gateway secrets; the API keys) for it to hand out. Each child must
 * hold only its own share: read from what the kernel shows of the child (/proc/<pid>/environ), not
 * from the launcher's plan.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, type LaunchedSystem, planProcesses } from "./launcher.js";
import type { RedisCredentials } from "./redis-acl.js";

const MAIN = "src/system/port-child.fixture.ts";
const secret = (name: string) => `${name.toLowerCase()}-${randomBytes(12).toString("hex")}`;

/** What the launcher's environment holds, as the README's recipe sources it. */
const PLANTED: Record<string, string> = Object.fromEntries(
  [
    "REDIS_PASSWORD_OPS",
    "REDIS_PASSWORD_GATEWAY",
    "REDIS_PASSWORD_PAYMENT",
    "REDIS_PASSWORD_SHIPPING",
    "BUS_SIGNING_KEY_PAYMENT",
    "BUS_SIGNING_KEY_GATEWAY",
    "GATEWAY_SECRET_PAYMENT",
    "GATEWAY_SECRET_SHIPPING",
    "GATEWAY_API_KEYS",
    "GATEWAY_ADMIN_API_KEYS",
    "PROMETHEUS_GATEWAY_API_KEY",
  ].map((name) => [name, secret(name)]),
);

const envOf = (pid: number): Map<string, string> =>
  new Map(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );

describe.skipIf(!existsSync("/proc/self/environ"))("what each launched process holds (break32 F1)", () => {
  let system: LaunchedSystem | undefined;
  const saved = { ...process.env };
  const envs = new Map<string, Map<string, string>>();

  beforeAll(async () => {
    Object.assign(process.env, PLANTED);
    // As --redis-acl hands them: each process its own user, its password the recipe's variable.
    const redisUsers = new Map<string, RedisCredentials>(
      ["gateway", "payment", "shipping"].map((user) => [
        user,
        { username: user, password: PLANTED[`REDIS_PASSWORD_${user.toUpperCase()}`]! },
      ]),
    );
    const specs = planProcesses({ redisUrl: "redis://127.0.0.1:1", redisUsers, anyPort: true })
      .filter((spec) => ["gateway", "payment", "shipping"].includes(spec.label))
      .map((spec) => ({ ...spec, main: MAIN }));
    system = launch(specs, () => {});
    await system.ready;
    for (const [label, child] of system.children) envs.set(label, envOf(child.pid!));
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    for (const name of Object.keys(PLANTED)) delete process.env[name];
    Object.assign(process.env, saved);
  });

  it("no process holds another user's Redis password, the ops one, a signing key or a gateway secret as planted", () => {
    expect([...envs.keys()].sort()).toEqual(["gateway", "payment", "shipping"]);
    for (const [label, env] of envs) {
      const own = PLANTED[`REDIS_PASSWORD_${label.toUpperCase()}`];
      const leaked = [...env]
        .filter(([, value]) =>
          Object.values(PLANTED).some((planted) => planted !== own && value.includes(planted)),
        )
        .map(([name]) => name)
        .filter((name) => !(label === "gateway" && name.startsWith("GATEWAY_") && name.endsWith("API_KEYS")));
      expect(leaked, label).toEqual([]);
      expect(env.get("REDIS_USERNAME"), label).toBe(label);
      expect(env.get("REDIS_PASSWORD"), label).toBe(own);
    }
  });

  it("only the gateway holds the API keys", () => {
    expect(envs.get("gateway")?.get("GATEWAY_API_KEYS")).toBe(PLANTED.GATEWAY_API_KEYS);
    expect(envs.get("gateway")?.get("GATEWAY_ADMIN_API_KEYS")).toBe(PLANTED.GATEWAY_ADMIN_API_KEYS);
    for (const label of ["payment", "shipping"]) {
      expect(envs.get(label)?.get("GATEWAY_API_KEYS") ?? "", label).toBe("");
      expect(envs.get(label)?.get("GATEWAY_ADMIN_API_KEYS") ?? "", label).toBe("");
    }
  });

  it("each service still gets its own signing keys and gateway credential", () => {
    for (const label of ["payment", "shipping"]) {
      expect(envs.get(label)?.get("BUS_SIGNING_KEYS"), label).toMatch(new RegExp(`^${label}:`));
      expect(envs.get(label)?.get("GATEWAY_SERVICE_SECRET")?.length, label).toBeGreaterThan(0);
    }
  });
});
