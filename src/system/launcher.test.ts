import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { GATEWAY_SERVICE } from "../gateway/gateway.js";
import { GATEWAY, SERVICES } from "./catalog.js";
import {
  assertFreshBuild,
  assertServicesSetUp,
  CompiledBuildError,
  compiledMain,
  parseInstances,
  planProcesses,
  ServiceSetupError,
} from "./launcher.js";
import { SERVICE_COMMANDS, serviceCommands } from "./redis-acl.js";
import { VERIFIES } from "./signing-key-needs.js";
import {
  serviceCredentialSecret,
  serviceGatewaySecret,
  signGatewayRequest,
  verifyGatewayCredential,
} from "../lib/http/gateway-credential.js";
import { Keyring } from "../lib/security/keyring.js";
import { newInstanceId } from "../lib/runtime/service-host.js";

const portsOf = (specs: ReturnType<typeof planProcesses>) =>
  Object.fromEntries(specs.map((s) => [s.label, s.env.SERVICE_PORT ?? s.env.GATEWAY_PORT]));

describe("planProcesses", () => {
  it("names the gateway process as the gateway registers itself (GATEWAY_SERVICE), the name the launch guard looks for", () => {
    // The system layer uses GATEWAY.name without loading the gateway's modules; one name for both.
    expect(GATEWAY.name).toBe(GATEWAY_SERVICE);
  });

  it("starts one process per service on its default port, then the gateway", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379" });
    expect(specs.map((s) => s.main)).toEqual([...SERVICES.map((s) => s.main), GATEWAY.main]);
    expect(portsOf(specs)).toEqual({
      ...Object.fromEntries(SERVICES.map((s) => [s.name, String(s.defaultPort)])),
      gateway: String(GATEWAY.defaultPort),
    });
    for (const spec of specs)
      expect(spec.env).toMatchObject({ REDIS_URL: "redis://r:6379", LOG_LEVEL: "info" });
  });

  it("hands each child only its own signing key and its producers' keys, and the payment token's private key to payment only", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379", env: { NODE_ENV: "development" } });
    const held = (label: string) =>
      Keyring.parse(specs.find((s) => s.label === label)!.env.BUS_SIGNING_KEYS!)
        .services()
        .sort();
    expect(held("gateway")).toEqual(["gateway"]);
    expect(held("shipping")).toEqual(["order", "shipping"]);
    expect(held("notification")).toEqual(["notification", "order", "user"]);
    expect(held("order")).toEqual(["inventory", "order", "payment", "shipping", "user"]);
    // Only order verifies payment's events, so only payment and order hold payment's key.
    const paymentHolders = specs.filter((s) => Keyring.parse(s.env.BUS_SIGNING_KEYS!).current("payment"));
    expect(paymentHolders.map((s) => s.label).sort()).toEqual(["order", "payment"]);
    const holders = (name: string) => specs.filter((s) => s.env[name]).map((s) => s.label);
    expect(holders("PAYMENT_TOKEN_KEYS")).toEqual(["payment"]);
    expect(holders("PAYMENT_TOKEN_PUBLIC_KEY")).toEqual(["order"]);
    // Users' contact data keys: user and notification only (one set), the email index key: user only.
    expect(holders("USER_DATA_KEYS")).toEqual(["user", "notification"]);
    expect(new Set(specs.map((s) => s.env.USER_DATA_KEYS).filter(Boolean)).size).toBe(1);
    expect(holders("USER_EMAIL_INDEX_KEY")).toEqual(["user"]);
  });

  it("withholds configured secrets from every process not entitled to them (inherited or given)", () => {
    const secrets = {
      PAYMENT_TOKEN_KEYS: "k1:private",
      PAYMENT_TOKEN_PUBLIC_KEY: "k1:public",
      USER_DATA_KEYS: "k1:data",
      USER_DATA_KEYS_FILE: "/run/secrets/user-data",
      USER_EMAIL_INDEX_KEY: "index",
    };
    const specs = planProcesses({ redisUrl: "redis://r:6379", env: secrets });
    // What a child sees: the launcher's environment, then its own settings over it.
    const seen = (label: string, name: string) =>
      ({ ...secrets, ...specs.find((s) => s.label === label)!.env })[name];
    const holders = (name: string) => specs.filter((s) => seen(s.label, name)).map((s) => s.label);
    expect(holders("PAYMENT_TOKEN_KEYS")).toEqual(["payment"]);
    expect(holders("PAYMENT_TOKEN_PUBLIC_KEY")).toEqual(["order"]);
    expect(holders("USER_DATA_KEYS")).toEqual(["user", "notification"]);
    expect(holders("USER_DATA_KEYS_FILE")).toEqual(["user", "notification"]);
    expect(holders("USER_EMAIL_INDEX_KEY")).toEqual(["user"]);
  });

  it("splits a configured key list the same way and never hands on the key file", () => {
    const all = Keyring.generate([...SERVICES.map((s) => s.name), "gateway"]).serialize();
    const given = planProcesses({ redisUrl: "redis://r:6379", env: { BUS_SIGNING_KEYS: all } });
    const gateway = given.find((s) => s.label === "gateway")!.env;
    expect(Keyring.parse(gateway.BUS_SIGNING_KEYS!).services()).toEqual(["gateway"]);
    expect(all).toContain(gateway.BUS_SIGNING_KEYS);
    expect(given.every((s) => s.env.BUS_SIGNING_KEYS_FILE === "")).toBe(true);
  });

  // Break-12 F8: with one shared secret every service could call every other as the gateway.
  it("gives no service a gateway secret that another service's port accepts", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379", env: { NODE_ENV: "development" } });
    const services = specs.filter((s) => s.label !== "gateway");
    const path = "/inventory/prod-cable/restock";
    const accepted: string[] = [];
    for (const holder of services) {
      const held = [holder.env.GATEWAY_SHARED_SECRET, holder.env.GATEWAY_SERVICE_SECRET].filter(
        (v): v is string => Boolean(v),
      );
      expect(held.length, holder.label).toBeGreaterThan(0);
      for (const target of services) {
        if (target === holder) continue;
        const verifies = serviceGatewaySecret(target.env, target.env.SERVICE_NAME!)!;
        for (const secret of held)
          if (
            verifyGatewayCredential(verifies, signGatewayRequest(secret, "POST", path), "POST", path) === "ok"
          )
            accepted.push(`${holder.label} -> ${target.label}`);
      }
    }
    expect(accepted).toEqual([]);
    // The gateway holds the master and signs for each service with that service's secret.
    const master = specs.find((s) => s.label === "gateway")!.env.GATEWAY_SHARED_SECRET!;
    for (const target of services) {
      const header = signGatewayRequest(
        serviceCredentialSecret(master, target.env.SERVICE_NAME!),
        "POST",
        path,
      );
      const verifies = serviceGatewaySecret(target.env, target.env.SERVICE_NAME!)!;
      expect(verifyGatewayCredential(verifies, header, "POST", path), target.label).toBe("ok");
    }
  });

  it("puts extra instances on a free port and labels them by number", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379", instances: { inventory: 2 } });
    const inventory = specs.filter((s) => s.env.SERVICE_NAME === "inventory");
    expect(inventory.map((s) => [s.label, s.env.SERVICE_PORT])).toEqual([
      ["inventory#1", "3003"],
      ["inventory#2", "0"],
    ]);
  });

  it("gives every process its index as INSTANCE_SLOT, the same on every launch (stable consumer names)", () => {
    const plan = () =>
      planProcesses({ redisUrl: "redis://r:6379", instances: { order: 2 } })
        .filter((s) => s.label !== "gateway")
        .map((s) => [s.label, s.env.INSTANCE_SLOT]);
    const first = plan();
    expect(first).toContainEqual(["order#1", "1"]);
    expect(first).toContainEqual(["order#2", "2"]);
    expect(first).toContainEqual(["payment", "1"]);
    expect(plan()).toEqual(first);
    const prefixed = planProcesses({ redisUrl: "redis://r:6379", env: { INSTANCE_SLOT: "blue" } });
    expect(prefixed[0]?.env.INSTANCE_SLOT).toBe("blue.1");
  });

  it("gives the gateway a slot too: its instance id is `gateway-<host>-1`, not its pid", () => {
    const gateway = planProcesses({ redisUrl: "redis://r:6379" }).find((s) => s.label === "gateway");
    expect(gateway?.env.INSTANCE_SLOT).toBe("1");
    expect(newInstanceId("gateway", gateway?.env)).toBe(`gateway-${hostname()}-1`);
    const prefixed = planProcesses({ redisUrl: "redis://r:6379", env: { INSTANCE_SLOT: "blue" } });
    expect(prefixed.find((s) => s.label === "gateway")?.env.INSTANCE_SLOT).toBe("blue.1");
  });

  it("with anyPort puts every service on a free port, the gateway on the one given", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379", anyPort: true, gatewayPort: 18080 });
    for (const spec of specs.filter((s) => s.label !== "gateway")) expect(spec.env.SERVICE_PORT).toBe("0");
    expect(specs.at(-1)?.env.GATEWAY_PORT).toBe("18080");
  });
});

describe("planProcesses with anyPort", () => {
  it("puts the gateway on a free port too when no gateway port is given", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379", anyPort: true });
    expect(Object.values(portsOf(specs))).toEqual(specs.map(() => "0"));
  });
});

describe("parseInstances", () => {
  it("reads service=count pairs and rejects unknown services or bad counts", () => {
    expect(parseInstances("inventory=2,order=3")).toEqual({ inventory: 2, order: 3 });
    expect(parseInstances(undefined)).toEqual({});
    expect(() => parseInstances("nope=2")).toThrow(/bad --instances entry "nope=2"/);
    expect(() => parseInstances("order=0")).toThrow(/bad --instances entry/);
  });
});

describe("planProcesses with a port base", () => {
  it("moves every default port to the base: 3000 + n becomes base + n, the gateway base + 80", () => {
    const specs = planProcesses({ redisUrl: "redis://r:6379", portBase: 4000 });
    expect(portsOf(specs)).toEqual({
      ...Object.fromEntries(SERVICES.map((s) => [s.name, String(s.defaultPort + 1000)])),
      gateway: "4080",
    });
  });
});

describe("running the compiled build", () => {
  const tree = (files: Record<string, number>) => {
    const root = mkdtempSync(join(tmpdir(), "ordersaga-build-"));
    for (const [path, mtimeSec] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), "");
      utimesSync(join(root, path), mtimeSec, mtimeSec);
    }
    return root;
  };
  const main = "src/services/user/main.ts";

  it("maps a source entry point to its compiled file", () => {
    expect(compiledMain(main)).toBe("dist/services/user/main.js");
    expect(compiledMain(GATEWAY.main)).toBe("dist/gateway/main.js");
  });

  it("accepts a build no older than every source, test files aside", () => {
    const root = tree({
      [main]: 1_000,
      "src/lib/x.ts": 1_500,
      "src/lib/x.test.ts": 9_000,
      "dist/services/user/main.js": 2_000,
    });
    expect(() => assertFreshBuild([main], root)).not.toThrow();
    rmSync(root, { recursive: true, force: true });
  });

  it("refuses a missing build (NO_BUILD) and one older than a source (STALE_BUILD), saying what to run", () => {
    const missing = tree({ [main]: 1_000 });
    expect(() => assertFreshBuild([main], missing)).toThrow(
      expect.objectContaining({ code: "NO_BUILD", message: expect.stringMatching(/npm run build/) }),
    );
    const stale = tree({ [main]: 1_000, "src/lib/x.ts": 3_000, "dist/services/user/main.js": 2_000 });
    expect(() => assertFreshBuild([main], stale)).toThrow(CompiledBuildError);
    expect(() => assertFreshBuild([main], stale)).toThrow(expect.objectContaining({ code: "STALE_BUILD" }));
    for (const root of [missing, stale]) rmSync(root, { recursive: true, force: true });
  });
});

// The service added is `nosuchservice`, a name no reader of the guide picks (newuser13 F2: with the
// guide's own `loyalty`, following the guide made these tests fail).
describe("a service added to SERVICES but not set up for its own process (README guide, step 6)", () => {
  it("is refused by the launcher with the file and the command to run", () => {
    const names = [...SERVICES.map((s) => s.name), "nosuchservice"];
    expect(() => assertServicesSetUp(names)).toThrow(ServiceSetupError);
    expect(() => assertServicesSetUp(names)).toThrow(
      /service "nosuchservice" has no Redis command list: add `nosuchservice: \[.*\]` to SERVICE_COMMANDS in src\/system\/redis-acl\.ts, then run `npx tsx scripts\/redis-acl\.ts --write`/,
    );
    // Its command list added but the key needs not regenerated: it would get no key to verify with.
    expect(() =>
      assertServicesSetUp(names, { ...SERVICE_COMMANDS, nosuchservice: ["incrby"] }, VERIFIES),
    ).toThrow(
      /service "nosuchservice" is missing from src\/system\/signing-key-needs\.ts .*run `npx tsx scripts\/redis-acl\.ts --write`/,
    );
    expect(() =>
      assertServicesSetUp(
        names,
        { ...SERVICE_COMMANDS, nosuchservice: ["incrby"] },
        { ...VERIFIES, nosuchservice: ["order"] },
      ),
    ).not.toThrow();
  });

  it("passes for every service of the system", () => {
    expect(() => assertServicesSetUp()).not.toThrow();
  });

  it("the ACL script's error names the file and what to add", () => {
    expect(() => serviceCommands("nosuchservice")).toThrow(
      /no Redis command list for service "nosuchservice": add `nosuchservice: \[.*\]` to SERVICE_COMMANDS in src\/system\/redis-acl\.ts/,
    );
  });
});
