import { describe, expect, it } from "vitest";
import { redactRedisUrl } from "./redis-url.js";

describe("redactRedisUrl", () => {
  it("shows the password as *** and keeps the user, host, port and database", () => {
    expect(redactRedisUrl("redis://ops:s3cret@localhost:6392/3")).toBe("redis://ops:***@localhost:6392/3");
    // break30 F4: ioredis authenticates with a password given as a query parameter too.
    expect(redactRedisUrl("redis://localhost:6431/0?password=S3cret")).toBe(
      "redis://localhost:6431/0?password=***",
    );
    expect(redactRedisUrl("redis://localhost:6431/0?db=1&Password=S3cret")).not.toContain("S3cret");
    expect(redactRedisUrl("redis://local host:6431/0?password=S3cret&x=1")).toBe(
      "redis://local host:6431/0?password=***&x=1",
    );
    expect(redactRedisUrl("rediss://:s3cret@redis.example:6380")).toBe("rediss://:***@redis.example:6380");
  });

  it("leaves a URL without a password as it is", () => {
    expect(redactRedisUrl("redis://localhost:6379/1")).toBe("redis://localhost:6379/1");
    expect(redactRedisUrl("redis://ops@localhost:6379")).toBe("redis://ops@localhost:6379");
  });

  it("masks a password that URL cannot parse, by the text", () => {
    const shown = redactRedisUrl("redis://ops:s3c ret@local host:6379");
    expect(shown).toBe("redis://ops:***@local host:6379");
  });
});
