import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { Keyring } from "../lib/security/keyring.js";
import { devSecretsFor, devSecretsPath } from "./dev-secrets.js";

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "dev-secrets-test-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it("keeps one set of secrets per Redis and db, reused by the next launch, in a 0600 file", () => {
  const env = { DEV_SECRETS_DIR: freshDir() };
  const first = devSecretsFor("redis://127.0.0.1:6390/1", env);
  const again = devSecretsFor("redis://127.0.0.1:6390/1", env);
  const otherDb = devSecretsFor("redis://127.0.0.1:6390/2", env);
  expect(first.created).toBe(true);
  expect(again.created).toBe(false);
  expect(again.settings).toEqual(first.settings);
  expect(otherDb.settings.USER_DATA_KEYS).not.toBe(first.settings.USER_DATA_KEYS);
  expect(statSync(first.file).mode & 0o777).toBe(0o600);
  // Every service and the gateway has a signing key; every secret a launch needs is there.
  expect(Keyring.parse(first.settings.BUS_SIGNING_KEYS!).services().sort()).toEqual(
    ["gateway", "inventory", "notification", "order", "payment", "shipping", "user"].sort(),
  );
  for (const name of [
    "PAYMENT_TOKEN_KEYS",
    "PAYMENT_TOKEN_PUBLIC_KEY",
    "USER_EMAIL_INDEX_KEY",
    "GATEWAY_SHARED_SECRET",
  ])
    expect(first.settings[name]).toBeTruthy();
});

it("never overrides what the environment configures, and is not used in production", () => {
  const dir = freshDir();
  const configured = devSecretsFor("redis://h:1", {
    DEV_SECRETS_DIR: dir,
    USER_DATA_KEYS_FILE: "/k",
    BUS_SIGNING_KEYS: "x",
  });
  expect(configured.settings.USER_DATA_KEYS).toBeUndefined();
  expect(configured.settings.BUS_SIGNING_KEYS).toBeUndefined();
  expect(configured.settings.USER_EMAIL_INDEX_KEY).toBeTruthy();
  expect(devSecretsFor("redis://h:1", { DEV_SECRETS_DIR: dir, NODE_ENV: "production" }).settings).toEqual({});
  expect(devSecretsPath("redis://:pw@h:1/3", { DEV_SECRETS_DIR: dir })).toBe(join(dir, "h_1_db3.env"));
});
