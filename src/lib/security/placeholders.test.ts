import { describe, expect, it } from "vitest";
import { MIN_SECRET_LENGTH, placeholderVariables, shortSecretVariables } from "./placeholders.js";

describe("weak secrets in the environment", () => {
  const long = "x".repeat(MIN_SECRET_LENGTH);
  const env = { A: long, B: long.slice(1), C: "", D: "replace-me" };

  it("names the variables set shorter than MIN_SECRET_LENGTH, never their values; unset and empty ones are not short", () => {
    expect(shortSecretVariables(env, ["A", "B", "C", "MISSING"])).toEqual(["B"]);
  });

  it("names the variables holding a .env.example placeholder", () => {
    expect(placeholderVariables(env, ["A", "B", "D"])).toEqual(["D"]);
  });
});
