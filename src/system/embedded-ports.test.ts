/** `npm start` and SERVICE_PORT (newuser11 F1): checked as every process checks it, never ignored silently. */
import { describe, expect, it } from "vitest";
import { embeddedServicePortNote } from "./embedded-ports.js";

describe("embeddedServicePortNote", () => {
  it("is silent when SERVICE_PORT is unset or 0 (free ports: what npm start does)", () => {
    expect(embeddedServicePortNote({})).toBeUndefined();
    expect(embeddedServicePortNote({ SERVICE_PORT: "0" })).toBeUndefined();
  });

  it("names a port number as unused, and where fixed service ports are", () => {
    expect(embeddedServicePortNote({ SERVICE_PORT: "3001" })).toMatch(
      /^SERVICE_PORT=3001 is not used by npm start: .*free port.*npm run start:services$/,
    );
  });

  it("refuses a value that is not a port, as every process does", () => {
    expect(() => embeddedServicePortNote({ SERVICE_PORT: "abc" })).toThrow(
      'Invalid configuration: SERVICE_PORT: must be a whole number (got "abc")',
    );
  });
});
