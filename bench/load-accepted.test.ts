import { describe, expect, it } from "vitest";
import { non2xxByStatus } from "./load-accepted.js";

describe("non2xxByStatus (new-user finding F5: which statuses the non-2xx were)", () => {
  it("lists every status that is not 2xx with its count, most frequent first", () => {
    expect(non2xxByStatus({ "202": { count: 18_914 }, "503": { count: 86 }, "429": { count: 1_000 } })).toBe(
      "429 ×1000, 503 ×86",
    );
  });

  it("says none when every answer was 2xx", () => {
    expect(non2xxByStatus({ "202": { count: 10 } })).toBe("none");
    expect(non2xxByStatus(undefined)).toBe("none");
  });
});
