import type { Redis } from "ioredis";
import { describe, expect, it, vi } from "vitest";
import { AofCompactor, aofEnabledFrom, RESTART_LEFTOVER_WARNING } from "./aof-compactor.js";

describe("aofEnabledFrom", () => {
  it("reads aof_enabled from an INFO persistence reply", () => {
    expect(
      aofEnabledFrom("# Persistence\r\nloading:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n"),
    ).toBe(false);
    expect(aofEnabledFrom("# Persistence\r\naof_enabled:1\r\n")).toBe(true);
  });

  it("counts a reply without the field as AOF on (the rewrite is the safe side)", () => {
    expect(aofEnabledFrom("# Persistence\r\nloading:0\r\n")).toBe(true);
  });
});

/** A stand-in Redis that records the commands the compactor sends. */
function fakeRedis(aofEnabled: () => boolean) {
  const sent: string[] = [];
  const redis = {
    call: async (...args: string[]) => {
      sent.push(args.join(" "));
      return [];
    },
    info: async (section: string) => {
      sent.push(`INFO ${section}`);
      return `# Persistence\r\naof_enabled:${aofEnabled() ? 1 : 0}\r\n`;
    },
    bgrewriteaof: async () => {
      sent.push("BGREWRITEAOF");
      return "Background append only file rewriting started";
    },
  };
  return { redis: redis as unknown as Redis, sent };
}

describe("AofCompactor", () => {
  it("with AOF off, scrubs SLOWLOG but sends no BGREWRITEAOF (new-user bench finding 4)", async () => {
    const { redis, sent } = fakeRedis(() => false);
    const compactor = new AofCompactor(redis, { intervalMs: 0, onError: (e) => expect.fail(String(e)) });
    try {
      compactor.shredded();
      await vi.waitFor(() => expect(sent).toContain("INFO persistence"));
      expect(sent).toContain("SLOWLOG GET -1");
      expect(sent).not.toContain("BGREWRITEAOF");
    } finally {
      compactor.stop();
    }
  });

  it("checks AOF at each run: rewrites once an operator switches it on", async () => {
    let aof = false;
    const { redis, sent } = fakeRedis(() => aof);
    const compactor = new AofCompactor(redis, { intervalMs: 0, onError: (e) => expect.fail(String(e)) });
    try {
      compactor.shredded();
      await vi.waitFor(() => expect(sent).toContain("INFO persistence"));
      expect(sent).not.toContain("BGREWRITEAOF");
      aof = true;
      await vi.waitFor(() => {
        compactor.shredded();
        expect(sent).toContain("BGREWRITEAOF");
      });
    } finally {
      compactor.stop();
    }
  });
});

describe("AofCompactor, a rewrite that fails after Redis accepted it (aof9)", () => {
  it("covers nothing: the failure is told, and the rewrite is asked for again", async () => {
    let requests = 0;
    const redis = {
      call: async () => [],
      // The first rewrite ended in error (a fork or disk failure), the second one completed.
      info: async () =>
        `# Persistence\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n` +
        `aof_last_bgrewrite_status:${requests === 1 ? "err" : "ok"}\r\naof_rewrites:${requests}\r\n`,
      bgrewriteaof: async () => {
        requests += 1;
        return "Background append only file rewriting started";
      },
    } as unknown as Redis;
    const errors: unknown[] = [];
    const compactor = new AofCompactor(redis, { intervalMs: 0, retryMs: 5, onError: (e) => errors.push(e) });
    try {
      compactor.shredded();
      await vi.waitFor(() => expect(requests).toBe(2));
      await vi.waitFor(() => expect(compactor.scheduled).toBe(false));
      expect(requests).toBe(2);
      expect(errors.map(String)).toEqual([expect.stringMatching(/rewrite failed/)]);
    } finally {
      compactor.stop();
    }
  });
});

/**
 * A stand-in Redis with one rewrite slot, as Redis has: a request while a rewrite runs is refused
 * "already in progress" (answered 10 ms late); a rewrite runs for `rewriteMs`. `INFO` calls wait until `release()` (so a
 * test can hold runs in flight), then report the rewrite's state.
 */
function oneSlotRedis(rewriteMs: number) {
  let inProgress = false;
  let rewrites = 0;
  const requestedAt: number[] = [];
  // INFO calls wait here until released, the latest first (so a later run can win the slot).
  let held: (() => void)[] | undefined = [];
  const redis = {
    call: async () => [],
    info: async () => {
      if (held) await new Promise<void>((resolve) => held!.push(resolve));
      return (
        `# Persistence\r\naof_enabled:1\r\naof_rewrite_in_progress:${inProgress ? 1 : 0}\r\n` +
        `aof_rewrite_scheduled:0\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:${rewrites}\r\n`
      );
    },
    bgrewriteaof: async () => {
      if (inProgress) {
        // The refusal arrives after the winner's answer (a slower connection, a busier server).
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error("ERR Background append only file rewriting already in progress");
      }
      inProgress = true;
      rewrites += 1;
      requestedAt.push(performance.now());
      setTimeout(() => (inProgress = false), rewriteMs);
      return "Background append only file rewriting started";
    },
  };
  return {
    redis: redis as unknown as Redis,
    requestedAt,
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const resolve of waiting.reverse()) resolve();
    },
  };
}

describe("AofCompactor, shreds while a run is in flight", () => {
  it("a shred during a run leaves one run in flight, and a rewrite requested after it completes", async () => {
    const fake = oneSlotRedis(30);
    const compactor = new AofCompactor(fake.redis, {
      intervalMs: 0,
      retryMs: 5,
      onError: (e) => expect.fail(String(e)),
    });
    try {
      compactor.shredded();
      // The first run waits on INFO; the second shred comes meanwhile (before, two runs raced for
      // the one rewrite slot, and the loser's retry timer replaced the winner's watch: the
      // compactor then waited for ever for a rewrite it no longer watched, and the shreds stayed).
      await new Promise((resolve) => setTimeout(resolve, 20));
      compactor.shredded();
      const lastShred = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 20));
      fake.release();
      await vi.waitFor(() => expect(compactor.scheduled).toBe(false), { timeout: 5_000 });
      expect(fake.requestedAt.at(-1)).toBeGreaterThan(lastShred);
    } finally {
      compactor.stop();
    }
  });

  it("runs called directly while one is in flight wait for it, and the last shred is still covered", async () => {
    const fake = oneSlotRedis(10);
    const compactor = new AofCompactor(fake.redis, {
      intervalMs: 0,
      retryMs: 5,
      onError: (e) => expect.fail(String(e)),
    });
    try {
      const first = compactor.run();
      compactor.shredded();
      const lastShred = performance.now();
      const second = compactor.run();
      fake.release();
      expect(await second).toBe("waiting");
      expect(await first).toBe("rewrite-requested");
      await vi.waitFor(() => expect(compactor.scheduled).toBe(false), { timeout: 5_000 });
      expect(fake.requestedAt.at(-1)).toBeGreaterThan(lastShred);
      expect(fake.requestedAt.length).toBe(2);
    } finally {
      compactor.stop();
    }
  });
});

/**
 * A stand-in Redis whose rewrites complete at once; `restartAt` (a request's number, 1-based): that
 * request's Redis restarts before the rewrite ends (its `aof_rewrites` count starts from 0 again).
 */
function quickRewriteRedis(options: { rewritesBefore?: number; restartAt?: number } = {}) {
  let rewrites = options.rewritesBefore ?? 0;
  const requestedAt: number[] = [];
  const redis = {
    call: async () => [],
    info: async () =>
      `# Persistence\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n` +
      `aof_last_bgrewrite_status:ok\r\naof_rewrites:${rewrites}\r\n`,
    bgrewriteaof: async () => {
      requestedAt.push(performance.now());
      rewrites = requestedAt.length === options.restartAt ? 0 : rewrites + 1;
      return "Background append only file rewriting started";
    },
  };
  return { redis: redis as unknown as Redis, requestedAt };
}

// break16 F3: the throttle ran on Date.now, so a host clock step back by S after a request delayed
// the next shred's rewrite by S (44 s for a 40 s step with a 5 s interval).
describe("AofCompactor, a step back of the host's wall clock", () => {
  it("does not delay the next rewrite past the interval", async () => {
    const fake = quickRewriteRedis();
    // In place before the compactor is built: a default taken as `Date.now` would read it.
    const wallClock = Date.now.bind(Date);
    let stepBackMs = 0;
    vi.spyOn(Date, "now").mockImplementation(() => wallClock() - stepBackMs);
    const compactor = new AofCompactor(fake.redis, {
      intervalMs: 200,
      retryMs: 5,
      onError: (e) => expect.fail(String(e)),
    });
    try {
      compactor.shredded();
      await vi.waitFor(() => expect(fake.requestedAt.length).toBe(1), { timeout: 5_000 });
      await vi.waitFor(() => expect(compactor.scheduled).toBe(false), { timeout: 5_000 });
      // NTP steps the host's clock back by a minute.
      stepBackMs = 60_000;
      compactor.shredded();
      await vi.waitFor(() => expect(fake.requestedAt.length).toBe(2), { timeout: 5_000 });
      expect(fake.requestedAt[1]! - fake.requestedAt[0]!).toBeLessThan(5_000);
    } finally {
      vi.restoreAllMocks();
      compactor.stop();
    }
  });
});

// break16 F2: a Redis killed during a rewrite leaves temp-rewriteaof-bg-<pid>.aof (a full snapshot
// with token keys) in its dir for ever; the compactor cannot delete it, but says so once it sees the
// restart.
describe("AofCompactor, Redis restarted during its rewrite", () => {
  it("warns once about the leftover temp-rewriteaof file, and asks for the rewrite again", async () => {
    const fake = quickRewriteRedis({ rewritesBefore: 5, restartAt: 1 });
    const warnings: string[] = [];
    const errors: unknown[] = [];
    const compactor = new AofCompactor(fake.redis, {
      intervalMs: 0,
      retryMs: 5,
      onRestartSeen: (message) => warnings.push(message),
      onError: (e) => errors.push(e),
    });
    try {
      compactor.shredded();
      await vi.waitFor(() => expect(fake.requestedAt.length).toBe(2), { timeout: 5_000 });
      await vi.waitFor(() => expect(compactor.scheduled).toBe(false), { timeout: 5_000 });
      expect(warnings).toEqual([RESTART_LEFTOVER_WARNING]);
      expect(RESTART_LEFTOVER_WARNING).toMatch(/temp-rewriteaof-/);
      expect(errors.map(String)).toEqual([expect.stringMatching(/end not seen/)]);
    } finally {
      compactor.stop();
    }
  });
});
