// Docker cannot run here, so the deployment files are checked statically against the code they start.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { gatewayEnvSchema } from "../gateway/config.js";
import { serviceEnvSchema } from "../lib/runtime/config.js";
import { GATEWAY, SERVICES } from "./catalog.js";

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test: string[] };
}

const root = new URL("../../", import.meta.url);
const compose = parse(readFileSync(new URL("docker-compose.yml", root), "utf8"), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");
const serviceVariables = new Set(Object.keys(serviceEnvSchema.shape));
const gatewayVariables = new Set(Object.keys(gatewayEnvSchema.shape));
const appServices = Object.entries(compose.services).filter(([, s]) => s.build);

describe("docker-compose.yml", () => {
  it("runs Redis 7 with AOF and no eviction", () => {
    const redis = compose.services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command).toEqual(
      expect.arrayContaining(["--appendonly", "yes", "--maxmemory-policy", "noeviction"]),
    );
  });

  it("runs all seven services, each from an entry point that exists, with a health check", () => {
    const mains = appServices.map(([, s]) => s.command?.at(-1));
    expect(mains.sort()).toEqual([...SERVICES.map((s) => s.main), GATEWAY.main].sort());
    for (const [name, service] of appServices) {
      expect(existsSync(new URL(service.command!.at(-1)!, root)), `${name} entry point`).toBe(true);
      expect(service.healthcheck?.test.join(" "), `${name} health check`).toContain("/health");
      expect(service.environment?.REDIS_URL).toBe("redis://redis:6379");
    }
  });

  it("gives each service its default port, and publishes the gateway on 8080", () => {
    for (const entry of SERVICES) {
      const [, service] = appServices.find(([, s]) => s.command?.at(-1) === entry.main)!;
      expect(service.environment?.SERVICE_NAME).toBe(entry.name);
      expect(Number(service.environment?.SERVICE_PORT)).toBe(entry.defaultPort);
    }
    const gateway = appServices.find(([, s]) => s.command?.at(-1) === GATEWAY.main)![1];
    expect(gateway.ports).toContain("8080:8080");
    expect(gateway.environment?.GATEWAY_PORT).toBe("8080");
  });

  it("sets only variables the process reads", () => {
    for (const [name, service] of appServices) {
      const known = service.command?.at(-1) === GATEWAY.main ? gatewayVariables : serviceVariables;
      for (const variable of Object.keys(service.environment ?? {})) {
        expect(known.has(variable), `${name}: ${variable}`).toBe(true);
      }
    }
  });

  it("binds every process to all interfaces and advertises a name the others can reach", () => {
    for (const [name, service] of appServices) {
      const gateway = service.command?.at(-1) === GATEWAY.main;
      expect(service.environment?.[gateway ? "GATEWAY_HOST" : "SERVICE_HOST"], name).toBe("0.0.0.0");
      if (!gateway) expect(service.environment?.SERVICE_ADVERTISE_HOST, name).toBe(name);
    }
  });
});

describe("Dockerfile", () => {
  it("installs from the lockfile on Node 20 and copies the sources its command runs", () => {
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toMatch(/npm ci/);
    expect(dockerfile).toMatch(/COPY src \.\/src/);
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(existsSync(new URL((JSON.parse(cmd!) as string[]).at(-1)!, root))).toBe(true);
  });
});
