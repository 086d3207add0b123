/**
 * The test Redis harness uses only its own redis-server (flake31 F3 c): a port picked free can be
 * taken by another listener before the server binds it (a restart rebinds the same port seconds
 * after the kill). The harness used to ping whatever answered there, so two test files silently
 * shared one Redis and each one's flush wiped the other's data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./wait.js";
import {
  externalRedis,
  ForeignRedisError,
  redisAvailable,
  type RedisServer,
  startRedisServer,
} from "./redis-server.js";

const foreign: ChildProcess[] = [];
const dirs: string[] = [];
let harness: RedisServer | undefined;

afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  for (const child of foreign.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Another redis-server on `port` (another test file's, say), with a key of its own. */
async function foreignServer(port: number): Promise<Redis> {
  const dir = mkdtempSync(join(tmpdir(), "ordersaga-foreign-"));
  dirs.push(dir);
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  foreign.push(child);
  const client = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  await waitFor(
    async () => {
      try {
        if (client.status !== "ready") await client.connect();
        return (await client.ping()) === "PONG";
      } catch {
        return false;
      }
    },
    10_000,
    "the foreign redis-server to answer",
  );
  await client.set("owner", "another test file");
  return client;
}

describe.skipIf(!redisAvailable || externalRedis)("the test Redis harness", () => {
  it("refuses a restart whose port another Redis took meanwhile, leaving that Redis's data alone", async () => {
    harness = await startRedisServer();
    await harness.kill();
    const other = await foreignServer(harness.port);
    try {
      await expect(harness.start()).rejects.toBeInstanceOf(ForeignRedisError);
      await expect(harness.start()).rejects.toThrow(
        /another Redis \(pid \d+\) answers on redis:\/\/127\.0\.0\.1:/,
      );
      expect(await other.get("owner")).toBe("another test file");
    } finally {
      other.disconnect();
    }
  }, 60_000);

  it("answers from its own server after a restart on a port nobody took", async () => {
    harness = await startRedisServer();
    const client = harness.client();
    await client.set("k", "v");
    await harness.restart();
    // AOF with fsync always: the write survives the kill.
    expect(await client.get("k")).toBe("v");
  }, 60_000);
});
