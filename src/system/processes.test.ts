/**
 * Issue 10 inputs 10, 11 and 13 with real processes over a real Redis: `npm run start:<service>`
 * stops on SIGTERM; `npm run start:services` reports a process that cannot start (and exits 1), or
 * prints where everything listens; `npm run demo` with REDIS_URL finds a running system, or runs its
 * own in an empty database and fails loudly when one of its processes dies.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { afterEach, expect, it } from "vitest";
import { describeWithRedis, freePort } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];

function run(command: string, args: string[], env: Record<string, string>): Run {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let text = "";
  child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => text, exited };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterEach(async () => {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

describeWithRedis("processes started by the npm scripts", (getRedis) => {
  it("stops `npm run start:payment` and its node process on SIGTERM", async () => {
    const npm = run("npm", ["run", "start:payment"], {
      REDIS_URL: getRedis().url,
      SERVICE_PORT: "0",
      LOG_LEVEL: "info",
    });
    const line = await waitFor(
      () => /"instance":"payment-[^"]*?-(\d+)-[a-z0-9]+"[^\n]*service started/.exec(npm.output()),
      30_000,
      "payment started",
    );
    const pid = Number(line[1]);
    expect(alive(pid)).toBe(true);
    npm.child.kill("SIGTERM");
    await npm.exited;
    await waitFor(() => !alive(pid), 10_000, "the node process to exit");
  }, 60_000);

  it("reports a service whose port is taken, with the reason and no stack trace, and exits 1", async () => {
    const taken = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(taken, "127.0.0.1", resolve));
    try {
      // user's default is 3001: with base taken - 1 it lands on the taken port.
      const launcher = run(
        "node",
        ["--import", "tsx", "src/system/start-services.ts", "--port-base", String(taken - 1)],
        {
          REDIS_URL: getRedis().url,
          LOG_LEVEL: "warn",
        },
      );
      expect(await launcher.exited).toBe(1);
      expect(launcher.output()).toContain(`user: port ${taken} is already in use`);
      expect(launcher.output()).not.toMatch(/^\s+at /m);
    } finally {
      blocker.close();
    }
  }, 90_000);

  it("takes free ports with SERVICE_PORT=0, prints every URL; the demo finds that running system", async () => {
    const launcher = run("node", ["--import", "tsx", "src/system/start-services.ts"], {
      REDIS_URL: getRedis().url,
      SERVICE_PORT: "0",
      GATEWAY_PORT: "0",
      LOG_LEVEL: "warn",
    });
    const banner = await waitFor(
      () => /Ordersaga is up[\s\S]*?try:/.exec(launcher.output())?.[0],
      90_000,
      "the banner",
    );
    for (const name of ["gateway", "user", "order", "inventory", "payment", "shipping", "notification"]) {
      expect(banner).toMatch(new RegExp(`${name}\\s+http://127\\.0\\.0\\.1:\\d+`));
    }
    expect(banner).not.toMatch(/:300[1-6]\b/);
    const demo = run("node", ["--import", "tsx", "src/demo/main.ts"], { REDIS_URL: getRedis().url });
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain("already running");
    expect(demo.output()).toContain("5 passed, 0 failed");
    launcher.child.kill("SIGTERM");
    expect(await launcher.exited).toBe(0);
  }, 180_000);

  it("runs the demo's own system in an empty database when none runs, and fails loudly if a process dies", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const demo = run("node", ["--import", "tsx", "src/demo/main.ts", "--timeout", "60000"], {
      REDIS_URL: getRedis().url,
      GATEWAY_PORT: "8080",
    });
    const db = Number(
      (await waitFor(() => /Redis database (\d+)/.exec(demo.output()), 90_000, "the demo's own system"))[1],
    );
    expect(db).toBeGreaterThan(0);
    // Kill one of its processes (found through the registry in its database) while it runs.
    const own = getRedis().client();
    await own.select(db);
    const key = await waitFor(
      async () => (await own.keys("{discovery}:inst:inventory:*"))[0],
      10_000,
      "inventory registered",
    );
    // Instance ids are <service>-<host>-<pid>-<random>.
    const pid = Number(/-(\d+)-[a-z0-9]+$/.exec(key)?.[1]);
    expect(alive(pid)).toBe(true);
    if (alive(pid)) process.kill(pid, "SIGKILL");
    expect(await demo.exited).toBe(1);
    expect(demo.output()).toMatch(/inventory died/);
  }, 180_000);
});
