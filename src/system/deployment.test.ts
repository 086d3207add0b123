// Docker cannot run here, so the deployment files are checked statically against the code they start.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { gatewayEnvSchema } from "../gateway/config.js";
import { serviceEnvSchema } from "../lib/runtime/config.js";
import { TOKEN_KEYS_ENV, TOKEN_PUBLIC_KEY_ENV } from "../lib/security/payment-token.js";
import { SIGNING_KEYS_ENV, SIGNING_KEYS_FILE_ENV } from "../lib/security/process-keys.js";
import {
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
} from "../lib/security/user-data.js";
import { GATEWAY, SERVICES } from "./catalog.js";
import { keysHeldBy } from "./signing-key-distribution.js";

interface ComposeService {
  image?: string;
  secrets?: string[];
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  env_file?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
}

const root = new URL("../../", import.meta.url);
const compose = parse(readFileSync(new URL("docker-compose.yml", root), "utf8"), { merge: true }) as {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { environment?: string; file?: string }>;
};
const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");
/** Read by src/lib/security at start (keys), outside the config schemas. */
const keyVariables = [
  SIGNING_KEYS_ENV,
  SIGNING_KEYS_FILE_ENV,
  TOKEN_KEYS_ENV,
  TOKEN_PUBLIC_KEY_ENV,
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
];
const serviceVariables = new Set([...Object.keys(serviceEnvSchema.shape), ...keyVariables]);
const gatewayVariables = new Set([
  ...Object.keys(gatewayEnvSchema.shape),
  SIGNING_KEYS_ENV,
  SIGNING_KEYS_FILE_ENV,
]);
/** The one-shot that writes Redis's ACL file from .env before Redis starts. */
const ACL_INIT = "redis-acl";
const appServices = Object.entries(compose.services).filter(([name, s]) => s.build && name !== ACL_INIT);
const GATEWAY_CONTAINER = "api-gateway";
const composeText = readFileSync(new URL("docker-compose.yml", root), "utf8");

/** Compose runs the compiled `dist/<path>.js`; tsconfig.build.json compiles it from `src/<path>.ts`. */
const sourceOf = (built: string) => built.replace(/^dist\//, "src/").replace(/\.js$/, ".ts");
const entryOf = (service: ComposeService) => {
  const built = service.command?.at(-1);
  return built === undefined ? undefined : sourceOf(built);
};

/**
 * The compose service running `entry`'s entry point; a service in SERVICES without one (README
 * guide step 8 not done) fails naming it, not with "undefined is not iterable" (newuser7 F4).
 */
function composeServiceRunning(entry: { name: string; main: string }): ComposeService {
  const found = appServices.find(([, s]) => entryOf(s) === entry.main);
  if (!found)
    throw new Error(
      `no compose service for ${entry.name}: add one running ${entry.main} to docker-compose.yml (README guide step 8)`,
    );
  return found[1];
}

describe("docker-compose.yml", () => {
  it("names a service that has no compose service of its own", () => {
    // A name no reader of the guide gives a service (newuser13 F2: `loyalty`, the guide's own, failed
    // this test for everyone who followed the guide literally).
    expect(() =>
      composeServiceRunning({ name: "nosuchservice", main: "src/services/nosuchservice/main.ts" }),
    ).toThrow(
      "no compose service for nosuchservice: add one running src/services/nosuchservice/main.ts to docker-compose.yml",
    );
  });

  it("runs Redis 7 with AOF and no eviction", () => {
    const redis = compose.services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command).toEqual(
      expect.arrayContaining(["--appendonly", "yes", "--maxmemory-policy", "noeviction"]),
    );
    // No single value over 8 MB: an oversized entry cannot be written at all (break-sig F4).
    const at = redis.command!.indexOf("--proto-max-bulk-len");
    expect(redis.command![at + 1]).toBe("8mb");
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
      const service = composeServiceRunning(entry);
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

  it("connects every process as its own Redis ACL user, with its secrets and keys only from the env file", () => {
    for (const [name, service] of appServices) {
      const env = service.environment ?? {};
      const user = entryOf(service) === GATEWAY.main ? "gateway" : env.SERVICE_NAME!;
      expect(env.REDIS_USERNAME, name).toBe(user);
      fromEnvFile(env.REDIS_PASSWORD, `REDIS_PASSWORD_${user.toUpperCase()}`);
      // The master to the gateway only; each service its own derived secret (break-12 F8).
      if (user === "gateway") fromEnvFile(env.GATEWAY_SHARED_SECRET, "GATEWAY_SHARED_SECRET");
      else {
        expect(env.GATEWAY_SHARED_SECRET, name).toBeUndefined();
        fromEnvFile(env.GATEWAY_SERVICE_SECRET, `GATEWAY_SECRET_${user.toUpperCase()}`);
      }
      // NODE_ENV=production: a process without its keys refuses to start (src/lib/security).
      expect(env.NODE_ENV, name).toBe("production");
      // Its own signing key and its producers' keys only, each from its own .env variable (F1).
      const keyVariables = (env.BUS_SIGNING_KEYS ?? "").split(",").map((part) => {
        const variable = /^\$\{(BUS_SIGNING_KEY_[A-Z]+):\?[^}]*\}$/.exec(part)?.[1];
        expect(variable, `${name}: ${part}`).toBeDefined();
        return variable!;
      });
      expect(keyVariables, name).toEqual(keysHeldBy(user).map((s) => `BUS_SIGNING_KEY_${s.toUpperCase()}`));
      if (user === "payment") fromEnvFile(env.PAYMENT_TOKEN_KEYS, "PAYMENT_TOKEN_KEYS");
      if (user === "order") fromEnvFile(env.PAYMENT_TOKEN_PUBLIC_KEY, "PAYMENT_TOKEN_PUBLIC_KEY");
      // Users' contact data keys: the user service and the notification service, nobody else.
      if (user === "user" || user === "notification") fromEnvFile(env.USER_DATA_KEYS, "USER_DATA_KEYS");
      else expect(env.USER_DATA_KEYS, `${name} holds no user data key`).toBeUndefined();
      if (user === "user") fromEnvFile(env.USER_EMAIL_INDEX_KEY, "USER_EMAIL_INDEX_KEY");
      else expect(env.USER_EMAIL_INDEX_KEY, `${name} holds no email index key`).toBeUndefined();
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

  it("builds the native HMAC in the build stage (required there) and copies it into the runtime image", () => {
    const [build, runtime] = dockerfile.split(/^FROM /m).slice(1) as [string, string];
    expect(build).toMatch(/apt-get install[^\n]* python3 make g\+\+/);
    expect(build).toMatch(/RUN BUS_NATIVE_HMAC=1 npm ci/);
    for (const [, from] of build.matchAll(/^COPY (?!--)(.+) \.\/?\S*$/gm))
      for (const path of from!.split(" ")) expect(existsSync(new URL(path, root)), path).toBe(true);
    // No compiler in the runtime image: its install must not try (and fail) to build.
    expect(runtime).toMatch(/RUN npm ci --omit=dev --ignore-scripts/);
    // Shipped, so required: an addon that does not load there stops the start instead of a silent fallback.
    expect(runtime).toMatch(/^ENV BUS_NATIVE_HMAC=1$/m);
    // With the digest the build recorded after its test load: the loader checks the file against it.
    expect(runtime).toMatch(
      /^COPY --from=build \/app\/build\/Release\/hmac_sha256\.node \/app\/build\/Release\/hmac_sha256\.node\.sha256 \.\/build\/Release\/$/m,
    );
  });
});

describe("docker-compose.yml observability profile", () => {
  const optional = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes("observability"));
  const byName = Object.fromEntries(optional);

  it("adds Prometheus, Grafana and Jaeger (OTLP/HTTP on 4318) only behind the profile, images pinned", () => {
    expect(optional.map(([name]) => name).sort()).toEqual(["grafana", "jaeger", "prometheus"]);
    for (const [name, service] of optional) expect(service.image, name).toMatch(/:v?\d+\.\d+\.\d+$/);
    expect(byName.jaeger?.ports).toContain("4318:4318");
    expect(byName.jaeger?.environment?.COLLECTOR_OTLP_ENABLED).toBe("true");
  });

  it("mounts files that exist", () => {
    for (const [name, service] of optional) {
      for (const volume of service.volumes ?? []) {
        const local = volume.split(":")[0]!;
        expect(existsSync(new URL(local, root)), `${name}: ${local}`).toBe(true);
      }
    }
  });

  it("scrapes every application container on its port, and loads the alert rules", () => {
    const config = parse(readFileSync(new URL("ops/prometheus/prometheus.yml", root), "utf8")) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const targets = config.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    const expected = appServices.map(([name, s]) => {
      const port = s.environment?.SERVICE_PORT ?? s.environment?.GATEWAY_PORT;
      return `${name}:${port}`;
    });
    expect(targets.sort()).toEqual(expected.sort());
    expect(config.rule_files).toContain("/etc/prometheus/alerts.yml");
    expect(byName.prometheus?.volumes).toContain("./ops/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro");
  });

  it("has a local twin for Prometheus outside Docker: every process on localhost, rules relative to the file", () => {
    const config = parse(readFileSync(new URL("ops/prometheus/prometheus.local.yml", root), "utf8")) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
    };
    const statics = config.scrape_configs.flatMap((c) => c.static_configs);
    const targets = statics.flatMap((s) => s.targets);
    const expected = [...SERVICES.map((s) => s.defaultPort), GATEWAY.defaultPort].map(
      (p) => `localhost:${p}`,
    );
    expect(targets.sort()).toEqual(expected.sort());
    // No target label `service`: the series carry their own (it would become exported_service).
    expect(statics.every((s) => s.labels?.service === undefined)).toBe(true);
    for (const file of config.rule_files)
      expect(existsSync(new URL(`ops/prometheus/${file}`, root))).toBe(true);
  });

  it("scrapes the gateway's /metrics with an API key read from a compose secret, the services' without", () => {
    const config = parse(readFileSync(new URL("ops/prometheus/prometheus.yml", root), "utf8")) as {
      scrape_configs: {
        job_name: string;
        authorization?: { type?: string; credentials?: string; credentials_file?: string };
        static_configs: { targets: string[] }[];
      }[];
    };
    const gatewayTarget = `${GATEWAY_CONTAINER}:${compose.services[GATEWAY_CONTAINER]?.environment?.GATEWAY_PORT}`;
    const jobs = config.scrape_configs;
    const gatewayJob = jobs.find((j) => j.static_configs.some((s) => s.targets.includes(gatewayTarget)));
    // The gateway runs with API keys (compose requires an admin key), so /metrics answers 401 without one.
    expect(compose.services[GATEWAY_CONTAINER]?.environment?.GATEWAY_ADMIN_API_KEYS).toMatch(/:\?/);
    expect(gatewayJob?.authorization?.type ?? "Bearer").toBe("Bearer");
    // Never the key itself in a committed file: a file Prometheus reads (a compose secret's mount).
    expect(gatewayJob?.authorization?.credentials).toBeUndefined();
    const file = gatewayJob?.authorization?.credentials_file ?? "";
    const secret = /^\/run\/secrets\/([\w-]+)$/.exec(file)?.[1];
    expect(secret, `credentials_file ${file} is a compose secret's mount`).toBeDefined();
    expect(byName.prometheus?.secrets).toContain(secret);
    const variable = compose.secrets?.[secret!]?.environment;
    expect(variable, "the secret comes from a variable of .env").toMatch(/^[A-Z_]+$/);
    expect(readFileSync(new URL(".env.example", root), "utf8")).toMatch(new RegExp(`^${variable}=`, "m"));
    // The services' /metrics is open on the compose network (they serve only the gateway and Prometheus).
    for (const job of jobs.filter((j) => j !== gatewayJob))
      expect(job.authorization, job.job_name).toBeUndefined();
  });

  it("passes the OTLP endpoint to every application process, empty (tracing off) by default", () => {
    for (const [name, service] of appServices)
      expect(service.environment, name).toHaveProperty("OTEL_EXPORTER_OTLP_ENDPOINT");
  });
});
