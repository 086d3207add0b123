import { describe, expect, it } from "vitest";
import { clientAddressKey } from "./client-address.js";

// edge20: an IPv6 client rotating addresses inside its /64 escaped every per-address limit.

describe("clientAddressKey", () => {
  it("gives every spelling and every address of one IPv6 /64 the same key", () => {
    const spellings = [
      "2001:db8:a:b::1",
      "2001:db8:a:b::2",
      "2001:DB8:A:B::1",
      "2001:0db8:000a:000b:0000:0000:0000:0001",
      "2001:db8:a:b:ffff:ffff:ffff:ffff",
      "2001:db8:a:b:1:2:3:4",
      "2001:db8:a:b::1%eth0",
      "2001:db8:a:b::5.6.7.8",
      "2001:db8:a:b:0::",
    ];
    expect(new Set(spellings.map(clientAddressKey))).toEqual(new Set(["2001:0db8:000a:000b::/64"]));
  });

  it("keeps the /64s apart", () => {
    expect(clientAddressKey("2001:db8:a:c::1")).toBe("2001:0db8:000a:000c::/64");
    expect(clientAddressKey("2001:db8::1")).toBe("2001:0db8:0000:0000::/64");
    expect(clientAddressKey("::1")).toBe("0000:0000:0000:0000::/64");
    expect(clientAddressKey("fe80::1%eth0")).toBe("fe80:0000:0000:0000::/64");
    expect(clientAddressKey("::")).toBe("0000:0000:0000:0000::/64");
  });

  it("keys an IPv4 address, and an IPv4-mapped one, by the whole IPv4 address", () => {
    expect(clientAddressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddressKey("::FFFF:203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddressKey("::ffff:cb00:7107")).toBe("203.0.113.7");
    expect(clientAddressKey("0:0:0:0:0:ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddressKey("203.0.113.8")).not.toBe(clientAddressKey("203.0.113.7"));
  });

  it("returns what is not an IP address as it is", () => {
    expect(clientAddressKey("")).toBe("");
    expect(clientAddressKey("not-an-address")).toBe("not-an-address");
  });
});
