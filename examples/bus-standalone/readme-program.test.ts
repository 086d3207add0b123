/**
 * The whole program of the README's "Use the bus library on its own", run as written (its
 * `ordersaga/src/...` imports pointed at this checkout) over a real Redis: it handles its message,
 * exits 0, and leaves its streams trimmed (break29 F1: followed at a steady rate, every entry stayed,
 * handled and acked, and Redis, which runs noeviction, filled up: the recipe started no trimmer).
 */
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../src/test-support/redis.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");

/** The README section's one `ts` program, its `ordersaga/` imports made paths into this checkout. */
async function readmeProgram(): Promise<string> {
  const readme = await readFile(join(root, "README.md"), "utf8");
  const section = readme.slice(
    readme.indexOf("## Use the bus library on its own"),
    readme.indexOf("## Troubleshooting"),
  );
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks).toHaveLength(1);
  return blocks[0]!.replaceAll('from "ordersaga/src/', `from "${root}/src/`);
}

describeWithRedis("the README's bus library program", (getRedis) => {
  it("handles its message, exits 0 and leaves its streams trimmed below what its group handled", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    // Inside the checkout (.tmp/ is ignored by git), so `zod` resolves from its node_modules.
    const dir = join(root, ".tmp", `readme-program-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "app.ts");
    writeFileSync(file, await readmeProgram());
    try {
      const { stdout } = await run(process.execPath, ["--import", "tsx", file], {
        cwd: root,
        env: { ...process.env, REDIS_URL: getRedis().url },
        timeout: 60_000,
      });
      expect(stdout).toContain("handled sku-1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const stream = "{shop}:ev:shop.item.added";
    // Its group stays (a restart resumes where it stopped), and what it handled is gone.
    const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
    expect(groups.map((g) => g[1])).toEqual(["shop-readers"]);
    expect(await redis.xlen(stream)).toBe(0);
    await getRedis().flush();
  }, 90_000);
});
