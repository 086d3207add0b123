import { describe, expect, it } from "vitest";
import { BENCH_USAGE, benchMode, quickRunTime } from "./args.js";

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

  it("measures the whole system in one process over Redis with --quick --one-process, and refuses --one-process alone", () => {
    expect(benchMode(["--quick", "--one-process"])).toBe("quick-one-process");
    expect(benchMode(["--one-process", "--quick"])).toBe("quick-one-process");
    expect(() => benchMode(["--one-process"])).toThrow(/--one-process goes with --quick/);
    expect(BENCH_USAGE).toContain("--one-process");
  });

  it("refuses an unknown argument instead of starting the full run", () => {
    expect(() => benchMode(["--qiuck"])).toThrow(/unknown argument --qiuck/);
  });
});

describe("the quick run's printed time", () => {
  it("says it excludes the build, and how long the build took (new-user bench finding 9)", () => {
    expect(quickRunTime(68.4, 75.2)).toBe(
      "(quick run: 68 s, not counting the 75 s of npm run build before it)",
    );
    expect(quickRunTime(61, 0.2)).toBe("(quick run: 61 s, not counting the build, which was already fresh)");
  });
});
