/**
 * Runs every service as its own process over Redis, like a small cluster on one machine:
 * prefixes each process's log lines, and on Ctrl-C (or SIGTERM) stops them all gracefully.
 *
 *   REDIS_URL=redis://localhost:6379 npm run start:services -- --instances inventory=2,order=2
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { GATEWAY, SERVICES } from "./catalog.js";

export interface ProcessSpec {
  label: string;
  main: string;
  env: Record<string, string>;
}

export interface LaunchOptions {
  redisUrl: string;
  /** Instances per service name (default 1 each). */
  instances?: Record<string, number>;
  gatewayPort?: number;
  logLevel?: string;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  /** Every service on a free port instead of its default (tests; several systems on one machine). */
  anyPort?: boolean;
}

/**
 * What to start: the first instance of a service on its default port (unless `anyPort`), extra ones
 * on a free port.
 */
export function planProcesses(options: LaunchOptions): ProcessSpec[] {
  const common = {
    REDIS_URL: options.redisUrl,
    LOG_LEVEL: options.logLevel ?? "info",
    ...options.env,
  };
  const specs: ProcessSpec[] = [];
  for (const service of SERVICES) {
    const count = options.instances?.[service.name] ?? 1;
    for (let i = 1; i <= count; i++) {
      specs.push({
        label: count > 1 ? `${service.name}#${i}` : service.name,
        main: service.main,
        env: {
          ...common,
          SERVICE_NAME: service.name,
          SERVICE_PORT: String(i === 1 && !options.anyPort ? service.defaultPort : 0),
        },
      });
    }
  }
  specs.push({
    label: "gateway",
    main: GATEWAY.main,
    env: { ...common, GATEWAY_PORT: String(options.gatewayPort ?? GATEWAY.defaultPort) },
  });
  return specs;
}

/** `inventory=2,order=2` → { inventory: 2, order: 2 }. */
export function parseInstances(spec: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (spec ?? "").split(",").filter(Boolean)) {
    const [name, count] = part.split("=");
    const n = Number(count);
    if (!name || !SERVICES.some((s) => s.name === name) || !Number.isInteger(n) || n < 1) {
      throw new Error(
        `bad --instances entry "${part}" (expected <service>=<count>, services: ${SERVICES.map((s) => s.name).join(", ")})`,
      );
    }
    out[name] = n;
  }
  return out;
}

export interface LaunchedSystem {
  children: Map<string, ChildProcess>;
  /** SIGTERM to every process; resolves when all have exited. */
  stop(): Promise<void>;
}

export function launch(
  specs: readonly ProcessSpec[],
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): LaunchedSystem {
  const children = new Map<string, ChildProcess>();
  const width = Math.max(...specs.map((s) => s.label.length));
  for (const spec of specs) {
    const child = spawn(process.execPath, ["--import", "tsx", spec.main], {
      env: { ...process.env, ...spec.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const prefix = `[${spec.label.padEnd(width)}]`;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => write(`${prefix} ${line}`));
    }
    child.on("exit", (code, signal) => write(`${prefix} exited (${signal ?? code})`));
    children.set(spec.label, child);
  }
  return {
    children,
    stop: async () => {
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once("exit", () => resolve());
              child.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
