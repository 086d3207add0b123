/**
 * A service process whose Redis password is changed under it (another `--redis-acl` launch reset
 * its ACL user, newuser8 H1) exits with code 1 and says why at its next reconnect, instead of
 * retrying WRONGPASS forever while it looks alive. A real process over a real redis-server.
 */
import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { childrenKilledAfterEach } from "../../test-support/child-run.js";

const running = childrenKilledAfterEach();

describeWithRedis("a process whose Redis credentials stop working", (getRedis) => {
  it("exits with code 1 naming WRONGPASS after its password is reset and its connections killed", async () => {
    const admin = getRedis().client();
    const user = "cred-test";
    await admin.call(
      "ACL",
      "SETUSER",
      user,
      "reset",
      "on",
      ">first-password",
      "allkeys",
      "allchannels",
      "+@all",
    );
    const child = spawn(process.execPath, ["--import", "tsx", "src/services/notification/main.ts"], {
      env: {
        ...process.env,
        LOG_LEVEL: "info",
        SERVICE_PORT: "0",
        REDIS_URL: getRedis().url,
        REDIS_USERNAME: user,
        REDIS_PASSWORD: "first-password",
      },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    running.push(child);
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.on("message", (m: { type?: string }) => m.type === "ordersaga:ready" && resolve());
      void exited.then((code) => reject(new Error(`exited (${code}) before ready:\n${output}`)));
    });

    // What a second launch's `ACL SETUSER ... reset on >new` does, then any connection blip.
    await admin.call("ACL", "SETUSER", user, "resetpass", ">second-password");
    await admin.call("CLIENT", "KILL", "USER", user);

    const code = await Promise.race([
      exited,
      new Promise<"still running">((r) => setTimeout(() => r("still running"), 30_000).unref()),
    ]);
    expect(code, output).toBe(1);
    expect(output).toMatch(/Redis refused this process's credentials \(WRONGPASS/);
  }, 90_000);
});
