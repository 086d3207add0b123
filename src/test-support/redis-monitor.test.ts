import { describe, expect, it } from "vitest";
import { monitorWords } from "./redis-monitor.js";

describe("monitorWords", () => {
  it("splits a MONITOR line into the command and its arguments, unescaping quotes, backslashes and bytes", () => {
    const line = String.raw`1796120475.511263 [0 127.0.0.1:39144] "hset" "k" "a \"b\" c" "x\\y" "\x00\xff" "line\nnext" ""`;
    expect(monitorWords(line)).toEqual(["hset", "k", 'a "b" c', "x\\y", "\x00\xff", "line\nnext", ""]);
  });

  it("reads commands run inside a script the same way (their client is `lua`)", () => {
    expect(monitorWords(`1796120475.511290 [0 lua] "GET" "{o}:ev:t:readto:g"`)).toEqual([
      "GET",
      "{o}:ev:t:readto:g",
    ]);
  });
});
