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
  env_file?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const root = new URL("../../", import.meta.url);
const compose = parse(readFileSync(new URL("docker-compose.yml", root), "utf8"), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");
const serviceVariables = new Set(Object.keys(serviceEnvSchema.shape));
const gatewayVariables = new Set(Object.keys(gatewayEnvSchema.shape));
/** The one-shot that writes Redis's ACL file from .env before Redis starts. */
const ACL_INIT = "redis-acl";
const appServices = Object.entries(compose.services).filter(([name, s]) => s.build && name !== ACL_INIT);
const composeText = readFileSync(new URL("docker-compose.yml", root), "utf8");

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

describe("docker-compose.yml security (issue 12 item 4)", () => {
  const redis = compose.services.redis!;
  /** `${NAME:?...}` / `${NAME:-}`: the value comes from .env, never from the file. */
  const fromEnvFile = (value: string | undefined, name: string) =>
    expect(value, name).toMatch(new RegExp(`^\\$\\{${name}(:[?-].*)?\\}$`));

  it("does not publish Redis outside its network, and starts it with the generated ACL file", () => {
    expect(redis.ports ?? []).toEqual([]);
    expect(redis.command).toEqual(expect.arrayContaining(["--aclfile", "/acl/users.acl"]));
    expect(redis.depends_on?.[ACL_INIT]?.condition).toBe("service_completed_successfully");
    const init = compose.services[ACL_INIT]!;
    expect(existsSync(new URL(sourceOf(init.command![1]!), root))).toBe(true);
    expect(init.env_file).toEqual([".env"]);
    // The health check logs in as the PING-only user: `default` is off in the ACL file.
    expect(redis.healthcheck?.test.join(" ")).toContain("--user healthcheck");
    expect(readFileSync(new URL("ops/redis/users.acl", root), "utf8")).toMatch(/^user default off /m);
  });

  it("connects every process as its own Redis ACL user, with secrets only from the env file", () => {
    for (const [name, service] of appServices) {
      const env = service.environment ?? {};
      const user = entryOf(service) === GATEWAY.main ? "gateway" : env.SERVICE_NAME!;
      expect(env.REDIS_USERNAME, name).toBe(user);
      fromEnvFile(env.REDIS_PASSWORD, `REDIS_PASSWORD_${user.toUpperCase()}`);
      fromEnvFile(env.GATEWAY_SHARED_SECRET, "GATEWAY_SHARED_SECRET");
      if (user === "gateway") {
        fromEnvFile(env.GATEWAY_API_KEYS, "GATEWAY_API_KEYS");
        fromEnvFile(env.GATEWAY_ADMIN_API_KEYS, "GATEWAY_ADMIN_API_KEYS");
      } else {
        expect(service.ports ?? [], `${name} publishes no port`).toEqual([]);
      }
    }
  });

  it("lists every variable it takes from .env in the committed .env.example; .env itself is ignored", () => {
    const example = readFileSync(new URL(".env.example", root), "utf8");
    const used = [...composeText.matchAll(/\$\{([A-Z_]+)[:}]/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(8);
    for (const variable of new Set(used)) expect(example, variable).toMatch(new RegExp(`^${variable}=`, "m"));
    expect(readFileSync(new URL(".gitignore", root), "utf8").split("\n")).toContain(".env");
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
