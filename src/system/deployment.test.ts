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

/** Compose runs the compiled `dist/<path>.js`; tsconfig.build.json compiles it from `src/<path>.ts`. */
const sourceOf = (built: string) => built.replace(/^dist\//, "src/").replace(/\.js$/, ".ts");
const entryOf = (service: ComposeService) => {
  const built = service.command?.at(-1);
  return built === undefined ? undefined : sourceOf(built);
};

describe("docker-compose.yml", () => {
  it("runs Redis 7 with AOF and no eviction", () => {
    const redis = compose.services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command).toEqual(
      expect.arrayContaining(["--appendonly", "yes", "--maxmemory-policy", "noeviction"]),
    );
  });

  it("runs all seven services, each from an entry point that exists, with a health check", () => {
    const mains = appServices.map(([, s]) => entryOf(s));
    expect(mains.sort()).toEqual([...SERVICES.map((s) => s.main), GATEWAY.main].sort());
    for (const [name, service] of appServices) {
      expect(existsSync(new URL(entryOf(service)!, root)), `${name} entry point`).toBe(true);
      expect(service.healthcheck?.test.join(" "), `${name} health check`).toContain("/health");
      expect(service.environment?.REDIS_URL).toBe("redis://redis:6379");
    }
  });

  it("gives each service its default port, and publishes the gateway on 8080", () => {
    for (const entry of SERVICES) {
      const [, service] = appServices.find(([, s]) => entryOf(s) === entry.main)!;
      expect(service.environment?.SERVICE_NAME).toBe(entry.name);
      expect(Number(service.environment?.SERVICE_PORT)).toBe(entry.defaultPort);
    }
    const gateway = appServices.find(([, s]) => entryOf(s) === GATEWAY.main)![1];
    expect(gateway.ports).toContain("8080:8080");
    expect(gateway.environment?.GATEWAY_PORT).toBe("8080");
  });

  it("sets only variables the process reads", () => {
    for (const [name, service] of appServices) {
      const known = entryOf(service) === GATEWAY.main ? gatewayVariables : serviceVariables;
      for (const variable of Object.keys(service.environment ?? {})) {
        expect(known.has(variable), `${name}: ${variable}`).toBe(true);
      }
    }
  });

  it("binds every process to all interfaces and advertises a name the others can reach", () => {
    for (const [name, service] of appServices) {
      const gateway = entryOf(service) === GATEWAY.main;
      expect(service.environment?.[gateway ? "GATEWAY_HOST" : "SERVICE_HOST"], name).toBe("0.0.0.0");
      if (!gateway) expect(service.environment?.SERVICE_ADVERTISE_HOST, name).toBe(name);
    }
  });
});

describe("Dockerfile", () => {
  it("builds with the lockfile on Node 20 and runs the compiled entry points without dev dependencies", () => {
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toMatch(/COPY src \.\/src/);
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev/);
    const build = JSON.parse(readFileSync(new URL("tsconfig.build.json", root), "utf8")) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ outDir: "dist", rootDir: "src" });
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(existsSync(new URL(sourceOf(cmd.at(-1)!), root))).toBe(true);
  });
});
