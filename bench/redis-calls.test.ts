import { describe, expect, it } from "vitest";
import { ordersArg, ordersProgress } from "./order-calls.js";
import {
  breakdownLines,
  commandKey,
  countsDelta,
  cpuByLabel,
  emptyTally,
  flatField,
  keyFamily,
  MEASURING_COMMANDS,
  messagesByEvent,
  netOfBackground,
  parseClientList,
  parseCommandstats,
  parseMonitorLine,
  perOrderList,
  perOrderTable,
  streamEvent,
  tallyCall,
  windowAccounting,
  without,
} from "./redis-calls.js";

const INFO = `# Commandstats\r
cmdstat_xadd:calls=287,usec=2000,usec_per_call=6.97,rejected_calls=0,failed_calls=0\r
cmdstat_evalsha:calls=184,usec=9000,usec_per_call=48.91,rejected_calls=0,failed_calls=1\r
cmdstat_xinfo|stream:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r
cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r
`;

describe("INFO commandstats", () => {
  it("reads calls by command, subcommands included", () => {
    expect(parseCommandstats(INFO)).toEqual(
      new Map([
        ["xadd", 287],
        ["evalsha", 184],
        ["xinfo|stream", 12],
        ["info", 3],
      ]),
    );
  });

  it("gives what ran between two readings, a command first seen in the second from zero, the measuring left out", () => {
    const before = new Map([
      ["xadd", 100],
      ["info", 1],
    ]);
    const after = parseCommandstats(INFO);
    const delta = without(countsDelta(before, after), (name) => MEASURING_COMMANDS.test(name));
    expect(delta).toEqual(
      new Map([
        ["xadd", 187],
        ["evalsha", 184],
      ]),
    );
  });
});

describe("per order lists", () => {
  it("lists counts per order, largest first, the rest summed as other", () => {
    const counts = new Map([
      ["get", 10],
      ["xadd", 300],
      ["evalsha", 200],
      ["hset", 5],
    ]);
    expect(perOrderList(counts, 10, 2)).toBe("xadd 30.0, evalsha 20.0, other 1.5");
  });

  it("tabulates per order and net of an idle background, never below zero", () => {
    const counts = new Map([
      ["xadd", 100],
      ["zrangebyscore", 4],
    ]);
    // 2 s of idle ran 4 zrangebyscore; the window lasted 3 s: 6 of the window's are background.
    const net = netOfBackground(counts, new Map([["zrangebyscore", 4]]), 2, 3);
    expect(net).toEqual(
      new Map([
        ["xadd", 100],
        ["zrangebyscore", 0],
      ]),
    );
    expect(perOrderTable(counts, 10, net)).toEqual([
      "    xadd             10.00    10.00",
      "    zrangebyscore     0.40     0.00",
    ]);
  });
});

describe("MONITOR tally", () => {
  it("reads a MONITOR line's sender and command, Redis's quoting undone", () => {
    expect(
      parseMonitorLine('+1796035316.865118 [0 127.0.0.1:58900] "lrange" "{order}:es:s:order-01a2" "12" "-1"'),
    ).toEqual({ source: "127.0.0.1:58900", args: ["lrange", "{order}:es:s:order-01a2", "12", "-1"] });
    expect(
      parseMonitorLine(
        '1796035316.1 [0 lua] "xadd" "{order}:ev:order.placed" "*" "d" "{\\"a\\":\\"b\\\\n\\"}\\x00"',
      ),
    ).toEqual({ source: "lua", args: ["xadd", "{order}:ev:order.placed", "*", "d", '{"a":"b\\n"}\u0000'] });
    expect(parseMonitorLine("+OK")).toBeUndefined();
    expect(parseMonitorLine('+1.2 [0 lua] "unterminated')).toBeUndefined();
  });

  it("finds the key of a command, a script call and a stream read", () => {
    expect(commandKey(["HSET", "{user}:u:u_1", "name", "A"])).toBe("{user}:u:u_1");
    expect(commandKey(["evalsha", "abc", "2", "{order}:es:s:order-o_1", "{order}:es:all", "x"])).toBe(
      "{order}:es:s:order-o_1",
    );
    expect(commandKey(["evalsha", "abc", "0", "x"])).toBeUndefined();
    expect(
      commandKey([
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "10",
        "BLOCK",
        "5000",
        "STREAMS",
        "{order}:ev:order.placed",
        ">",
      ]),
    ).toBe("{order}:ev:order.placed");
    expect(commandKey(["multi"])).toBeUndefined();
  });

  it("names the documented key family of a key, and says when none", () => {
    expect(keyFamily("{order}:ev:order.placed")).toBe("{<owner>}:ev:<event>");
    expect(keyFamily("{user}:u:u_0000000000000001")).toBe("{user}:u:<userId>");
    expect(keyFamily("nobody:knows")).toBe("(other)");
    expect(keyFamily(undefined)).toBe("(no key)");
  });

  it("counts clients' commands as top-level, by command, family and sender, and scripts' commands apart", () => {
    const tally = emptyTally();
    const users = parseClientList(
      "id=3 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=8 name= age=1 user=order lib-name=\n" +
        "id=4 addr=127.0.0.1:5002 laddr=127.0.0.1:6379 fd=9 name= age=1 user=default\n",
    );
    const label = (address: string) => users.get(address);
    tallyCall(tally, "127.0.0.1:5001", ["evalsha", "sha", "1", "{order}:es:s:order-o_1"], label);
    tallyCall(tally, "lua", ["xadd", "{order}:ev:order.placed", "*", "d", "{}"], label);
    tallyCall(tally, "lua", ["hset", "{order}:rm:orders", "o_1", "{}"], label);
    tallyCall(tally, "127.0.0.1:5002", ["XACK", "{order}:ev:order.placed", "g", "1-0"], label);
    tallyCall(tally, "127.0.0.1:5999", ["ping"], label);
    expect(tally.topLevel).toEqual(
      new Map([
        ["evalsha", 1],
        ["xack", 1],
        ["ping", 1],
      ]),
    );
    expect(tally.inScripts).toEqual(
      new Map([
        ["xadd", 1],
        ["hset", 1],
      ]),
    );
    expect(tally.bySource).toEqual(
      new Map([
        ["order", 1],
        ["default", 1],
        ["(unknown)", 1],
      ]),
    );
    expect(tally.bySourceCall).toEqual(
      new Map([
        ["order\tevalsha {order}:es:s:order-<orderId>", 1],
        ["default\txack {<owner>}:ev:<event>", 1],
        ["(unknown)\tping (no key)", 1],
      ]),
    );
    expect(tally.topLevelByFamily.get("{order}:es:s:order-<orderId>")).toBe(1);
    expect(tally.inScriptsByFamily.get("{<owner>}:ev:<event>")).toBe(1);
    expect(tally.inScriptsByFamily.get("{order}:rm:<projection>")).toBe(1);
  });
});

describe("bus messages", () => {
  it("counts the entries added to each event stream between two readings, by event", () => {
    const before = new Map([
      ["{order}:ev:order.placed", 10],
      ["{notification}:ev:notification.sent", 30],
    ]);
    const after = new Map([
      ["{order}:ev:order.placed", 15],
      ["{notification}:ev:notification.sent", 50],
      ["{user}:ev:user.validated", 5],
      ["{order}:es:all", 99],
    ]);
    expect(messagesByEvent(before, after)).toEqual(
      new Map([
        ["order.placed", 5],
        ["notification.sent", 20],
        ["user.validated", 5],
      ]),
    );
    expect(streamEvent("{order}:ev:order.placed:fail:g:1-0")).toBeUndefined();
  });

  it("reads a field of XINFO STREAM's flat reply", () => {
    expect(flatField(["length", 3, "entries-added", 42], "entries-added")).toBe(42);
    expect(flatField(["length", 3], "entries-added")).toBeUndefined();
  });
});

describe("CPU by process", () => {
  it("counts a process under its label, its children under their nearest labelled ancestor, the rest as other", () => {
    const before = [
      { pid: 1, ppid: 0, ticks: 100 },
      { pid: 10, ppid: 1, ticks: 50 },
      { pid: 11, ppid: 10, ticks: 5 },
      { pid: 20, ppid: 0, ticks: 7 },
      { pid: 30, ppid: 1, ticks: 0 },
    ];
    const after = [
      { pid: 1, ppid: 0, ticks: 110 },
      { pid: 10, ppid: 1, ticks: 80 },
      { pid: 11, ppid: 10, ticks: 15 },
      { pid: 20, ppid: 0, ticks: 27 },
      { pid: 30, ppid: 1, ticks: 4 },
      { pid: 31, ppid: 30, ticks: 6 },
    ];
    const labels = new Map([
      [1, "bench driver"],
      [10, "order"],
      [20, "redis-server"],
    ]);
    expect(cpuByLabel(before, after, 100, labels, "other")).toEqual(
      new Map([
        ["bench driver", 0.2],
        ["order", 0.4],
        ["redis-server", 0.2],
      ]),
    );
    const unlabelled = cpuByLabel(before, after, 100, new Map(), "other");
    expect([...unlabelled.keys()]).toEqual(["other"]);
    expect(unlabelled.get("other")).toBeCloseTo(0.8, 10);
  });
});

describe("the quick run's breakdown", () => {
  it("prints CPU per order by process, commands and messages per order, and the MONITOR sample", () => {
    const tally = emptyTally();
    tally.topLevel.set("evalsha", 20);
    tally.inScripts.set("xadd", 30);
    const lines = breakdownLines({
      rate: 140,
      completed: 10,
      cpuSeconds: new Map([
        ["order", 0.045],
        ["redis-server", 0.0145],
      ]),
      commands: new Map([
        ["xadd", 287],
        ["evalsha", 184],
      ]),
      messages: new Map([
        ["order.placed", 10],
        ["notification.sent", 38],
        ["order.delivered", 10],
      ]),
      sample: { orders: 10, rate: 25, tally },
    });
    expect(lines).toEqual([
      "breakdown at 140 orders/s (10 orders shipped in the window, each delivered in it too):",
      "  CPU ms per order: 5.95 = order 4.50, redis-server 1.45",
      "  Redis commands per order (INFO commandstats, scripts' commands included): 47.1 = xadd 28.7, evalsha 18.4",
      "  bus messages per order (event streams' entries-added): 5.8 = notification.sent 3.8, order.delivered 1.0, order.placed 1.0",
      "  top-level Redis commands per order (MONITOR over 10 orders at 25/s): 2.0 = evalsha 2.0",
      "  run inside scripts per order (same sample): 3.0 = xadd 3.0",
    ]);
  });
});

describe("the quick run's window accounting (new-user finding F4)", () => {
  it("holds whole orders when every order shipped in the window was delivered in it, and no other", () => {
    expect(windowAccounting(75, new Map([["order.delivered", 75]]))).toEqual({ deliveries: 75, whole: true });
  });

  it("is not whole when another window's deliveries fell in it, or its own fell outside", () => {
    // The 25/s step's 125 deliveries (5 s after shipment) in the 15/s step's window of 75 orders.
    expect(windowAccounting(75, new Map([["order.delivered", 125]]))).toEqual({
      deliveries: 125,
      whole: false,
    });
    expect(windowAccounting(75, new Map())).toEqual({ deliveries: 0, whole: false });
  });

  it("says in the breakdown's heading that its per-order figures are not of whole orders", () => {
    const [heading] = breakdownLines({
      rate: 15,
      completed: 75,
      cpuSeconds: new Map([["order", 1]]),
      commands: new Map([["xadd", 750]]),
      messages: new Map([["order.delivered", 125]]),
    });
    expect(heading).toBe(
      "breakdown at 15 orders/s (75 orders shipped in the window; NOT whole orders: 125 order.delivered in it, so every per-order figure includes other orders' work):",
    );
  });
});

describe("order-calls arguments", () => {
  it("takes one positive whole number of orders, 50 by default", () => {
    expect(ordersArg([])).toBe(50);
    expect(ordersArg(["200"])).toBe(200);
    for (const bad of [["0"], ["-3"], ["2.5"], ["many"], ["10", "20"]])
      expect(() => ordersArg(bad)).toThrow(/Usage/);
  });
});

describe("order-calls progress", () => {
  it("reports every 10th measured order and the last, nothing in between (new-user bench finding 10)", () => {
    expect(ordersProgress(10, 50, 12_345)).toBe("order-calls: 10/50 orders measured (12 s)");
    expect(ordersProgress(7, 50, 9_000)).toBeUndefined();
    expect(ordersProgress(23, 23, 30_400)).toBe("order-calls: 23/23 orders measured (30 s)");
  });
});
