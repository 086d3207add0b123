import { describe, expect, it } from "vitest";
import { BENCH_USAGE, benchMode } from "./args.js";

describe("npm run bench arguments", () => {
  it("answers --help and -h with the usage, before anything runs", () => {
    expect(benchMode(["--help"])).toBe("help");
    expect(benchMode(["--quick", "-h"])).toBe("help");
    expect(BENCH_USAGE).toContain("--quick");
  });

  it("runs everything without arguments and the quick measure with --quick", () => {
    expect(benchMode([])).toBe("full");
    expect(benchMode(["--quick"])).toBe("quick");
  });

  it("refuses an unknown argument instead of starting the full run", () => {
    expect(() => benchMode(["--qiuck"])).toThrow(/unknown argument --qiuck/);
  });
});
