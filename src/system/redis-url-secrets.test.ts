/**
 * newuser14 F1: the launcher masked the password of REDIS_URL, but other messages built from it
 * printed it in clear. Every message below names the Redis with its password as `***`.
 */
import { describe, expect, it } from "vitest";
import { DevSecretsBusyError, DevSecretsClaimLostError, DevSecretsMismatchError } from "./dev-secrets.js";
import { runningSystemMessage } from "./launch-guard.js";

const URL_WITH_PASSWORD = "redis://ops:s3cret-pw@localhost:6392/3";
const SHOWN = "redis://ops:***@localhost:6392/3";

describe("messages naming REDIS_URL hide its password", () => {
  it.each([
    [
      "a system already running (start:services, npm start)",
      () =>
        runningSystemMessage(URL_WITH_PASSWORD, [
          { service: "gateway", instanceId: "gateway-1", url: "http://127.0.0.1:8080" },
        ]),
    ],
    [
      "data of other development secrets",
      () => new DevSecretsMismatchError(URL_WITH_PASSWORD, "/tmp/secrets", "abc123").message,
    ],
    [
      "data without a fingerprint",
      () =>
        new DevSecretsMismatchError(URL_WITH_PASSWORD, "/tmp/secrets", null, "/tmp/secrets/x.env").message,
    ],
    [
      "another start making up secrets",
      () => new DevSecretsBusyError(URL_WITH_PASSWORD, "abc123", 30_000).message,
    ],
    ["a lost claim", () => new DevSecretsClaimLostError(URL_WITH_PASSWORD, "abc123", null).message],
  ])("%s", (_name, message) => {
    expect(message()).toContain(SHOWN);
    expect(message()).not.toContain("s3cret-pw");
  });
});
