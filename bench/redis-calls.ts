/**
 * The pure parts of counting Redis work per order (no I/O; the reading is in bench/redis-probe.ts):
 * `INFO commandstats` deltas (every command Redis ran, those inside Lua scripts included), MONITOR
 * lines tallied by command, by key family (src/system/key-families.ts) and by the process that sent
 * them (its ACL user), and bus messages from the event streams' `entries-added` counters (which
 * trimming does not lower).
 */
import { KEY_FAMILIES } from "../src/system/key-families.js";

/** name → count. */
export type Counts = Map<string, number>;

/** Calls by command from `INFO commandstats` (`cmdstat_<name>:calls=<n>,…`; subcommands as `xinfo|stream`). */
export function parseCommandstats(info: string): Counts {
  const out: Counts = new Map();
  for (const match of info.matchAll(/^cmdstat_([^:\s]+):calls=(\d+)/gm)) out.set(match[1]!, Number(match[2]));
  return out;
}

/** after − before, per name (a name only in `after` counts from zero); zero deltas are left out. */
export function countsDelta(before: Counts, after: Counts): Counts {
  const out: Counts = new Map();
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d !== 0) out.set(name, d);
  }
  return out;
}

export function addCount(counts: Counts, name: string, n = 1): void {
  counts.set(name, (counts.get(name) ?? 0) + n);
}

export function totalOf(counts: Counts): number {
  let n = 0;
  for (const v of counts.values()) n += v;
  return n;
}

/** Counts without the names `drop` matches (the measuring's own commands: INFO, SCAN, XINFO…). */
export function without(counts: Counts, drop: (name: string) => boolean): Counts {
  return new Map([...counts].filter(([name]) => !drop(name)));
}

/**
 * The commands the benchmark itself sends to read the counters, left out of every tally (ZCARD: the
 * wait for due deliveries, redis-probe.ts; no service sends it).
 */
export const MEASURING_COMMANDS =
  /^(info|scan|xinfo\|stream|zcard|config\|resetstat|client\|list|monitor|ping|echo)$/;

/**
 * "xadd 28.7, evalsha 18.4, …" per order, largest first, at most `limit` names (the rest summed as
 * "other"); counts ÷ orders with one decimal.
 */
export function perOrderList(counts: Counts, orders: number, limit = 12, digits = 1): string {
  const sorted = [...counts].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const per = (n: number) => (n / orders).toFixed(digits);
  const shown = sorted.slice(0, limit).map(([name, n]) => `${name} ${per(n)}`);
  const rest = sorted.slice(limit).reduce((sum, [, n]) => sum + n, 0);
  if (rest > 0) shown.push(`other ${per(rest)}`);
  return shown.join(", ");
}

const NO_KEY = new Set([
  "multi",
  "exec",
  "discard",
  "ping",
  "info",
  "client",
  "select",
  "script",
  "hello",
  "auth",
  "time",
  "config",
  "command",
  "publish",
  "flushall",
  "acl",
  "dbsize",
  "scan",
  "randomkey",
]);

/**
 * The key a command (as MONITOR shows it: name then arguments) is about, for the tally by key
 * family: the first key of EVAL/EVALSHA/FCALL (none when it has no key), the first stream of
 * XREAD/XREADGROUP, nothing for commands without keys, else the first argument.
 */
export function commandKey(args: readonly string[]): string | undefined {
  const name = args[0]?.toLowerCase();
  if (name === undefined || NO_KEY.has(name)) return undefined;
  if (
    name === "eval" ||
    name === "evalsha" ||
    name === "eval_ro" ||
    name === "evalsha_ro" ||
    name === "fcall"
  )
    return Number(args[2]) > 0 ? args[3] : undefined;
  if (name === "xread" || name === "xreadgroup") {
    const at = args.findIndex((a, i) => i > 0 && a.toLowerCase() === "streams");
    return at < 0 ? undefined : args[at + 1];
  }
  if (name === "xinfo" || name === "object" || name === "memory") return args[2];
  return args[1];
}

/** The documented key family (docs/storage.md notation) `key` belongs to; "(no key)" / "(other)". */
export function keyFamily(key: string | undefined, families = KEY_FAMILIES): string {
  if (key === undefined) return "(no key)";
  return families.find((f) => f.match.test(key))?.pattern ?? "(other)";
}

/** `addr` → `user` of each client in `CLIENT LIST`'s text. */
export function parseClientList(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const addr = /(?:^|\s)addr=(\S+)/.exec(line)?.[1];
    const user = /(?:^|\s)user=(\S+)/.exec(line)?.[1];
    if (addr && user) out.set(addr, user);
  }
  return out;
}

/** What MONITOR showed, tallied. */
export interface CallTally {
  /** Commands clients sent (a script call counts once, as evalsha), by command. */
  topLevel: Counts;
  /** Commands run inside Lua scripts, by command. */
  inScripts: Counts;
  /** Top-level commands by key family. */
  topLevelByFamily: Counts;
  /** Commands inside scripts by key family. */
  inScriptsByFamily: Counts;
  /** Top-level commands by the sender's label (`sourceLabel`; "(unknown)" when not known). */
  bySource: Counts;
  /**
   * Top-level commands by sender, command and key family: `<label>\t<command> <family>` (which
   * process sends which script or read, the accounting of a per-order count).
   */
  bySourceCall: Counts;
}

export function emptyTally(): CallTally {
  return {
    topLevel: new Map(),
    inScripts: new Map(),
    topLevelByFamily: new Map(),
    inScriptsByFamily: new Map(),
    bySource: new Map(),
    bySourceCall: new Map(),
  };
}

/**
 * Adds one MONITOR line: `source` is the client's address, or "lua" for a command a script ran;
 * `args` the command's name and arguments. `sourceLabel` names a client address (its process).
 */
export function tallyCall(
  tally: CallTally,
  source: string,
  args: readonly string[],
  sourceLabel: (address: string) => string | undefined = () => undefined,
): void {
  const name = args[0]?.toLowerCase();
  if (name === undefined) return;
  const family = keyFamily(commandKey(args));
  if (source === "lua") {
    addCount(tally.inScripts, name);
    addCount(tally.inScriptsByFamily, family);
  } else {
    addCount(tally.topLevel, name);
    addCount(tally.topLevelByFamily, family);
    const label = sourceLabel(source) ?? "(unknown)";
    addCount(tally.bySource, label);
    addCount(tally.bySourceCall, `${label}\t${name} ${family}`);
  }
}

/** The event an event stream carries (`{order}:ev:order.placed` → `order.placed`); undefined for other keys. */
export function streamEvent(key: string): string | undefined {
  return /^\{[^{}:]+\}:ev:([^:]+)$/.exec(key)?.[1];
}

/** A field of a flat `[name, value, name, value, …]` reply (XINFO STREAM). */
export function flatField(flat: readonly unknown[], name: string): unknown {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

/**
 * Bus messages by event between two readings of the event streams' `entries-added` (stream key →
 * entries ever added): a stream only in `after` was created in between and counts from zero.
 */
export function messagesByEvent(before: Counts, after: Counts): Counts {
  const out: Counts = new Map();
  for (const [key, n] of countsDelta(before, after)) {
    const event = streamEvent(key);
    if (event !== undefined && n > 0) addCount(out, event, n);
  }
  return out;
}

/**
 * CPU seconds per label between two snapshots: a process counts under its own label, else under
 * its nearest labelled ancestor (a child a labelled process started), else under `otherLabel`.
 */
export function cpuByLabel(
  before: readonly { pid: number; ppid: number; ticks: number }[],
  after: readonly { pid: number; ppid: number; ticks: number }[],
  ticksPerSecond: number,
  labels: ReadonlyMap<number, string>,
  otherLabel: string,
): Counts {
  const start = new Map(before.map((s) => [s.pid, s.ticks]));
  const parent = new Map([...before, ...after].map((s) => [s.pid, s.ppid]));
  const labelOf = (pid: number): string => {
    const seen = new Set<number>();
    for (let p: number | undefined = pid; p !== undefined && !seen.has(p); p = parent.get(p)) {
      seen.add(p);
      const label = labels.get(p);
      if (label !== undefined) return label;
    }
    return otherLabel;
  };
  const out: Counts = new Map();
  for (const s of after) {
    const ticks = Math.max(0, s.ticks - (start.get(s.pid) ?? 0));
    addCount(out, labelOf(s.pid), ticks / ticksPerSecond);
  }
  return out;
}

/** What one measured rate of the quick run did, per order (bench/quick.ts). */
export interface Breakdown {
  rate: number;
  /** Orders shipped in the window: the divisor. */
  completed: number;
  /** CPU seconds by process label. */
  cpuSeconds: Counts;
  /** Every command Redis ran (INFO commandstats delta), scripts' commands included. */
  commands: Counts;
  /** Bus messages by event. */
  messages: Counts;
  /** A MONITOR sample (its own window, not the measured one): top-level vs in-script commands. */
  sample?: { orders: number; rate: number; tally: CallTally };
}

/**
 * Whether a window's per-order figures are of whole orders: every order shipped in it was also
 * delivered in it (`order.delivered` follows `SHIPPING_DELIVERY_DELAY_MS` later), and no delivery of
 * another window's orders fell in it. Not whole, a window counted the 25/s step's deliveries in the
 * 15/s step's and gave 1.6 deliveries per order (new-user finding F4).
 */
export function windowAccounting(
  completed: number,
  messages: Counts,
): { deliveries: number; whole: boolean } {
  const deliveries = messages.get("order.delivered") ?? 0;
  return { deliveries, whole: completed > 0 && deliveries === completed };
}

/** The per-process, per-command and per-event breakdown `npm run bench -- --quick` prints. */
export function breakdownLines(b: Breakdown): string[] {
  const n = Math.max(1, b.completed);
  const window = windowAccounting(b.completed, b.messages);
  const whole = window.whole
    ? ", each delivered in it too"
    : `; NOT whole orders: ${window.deliveries} order.delivered in it, so every per-order figure includes other orders' work`;
  const perOrder = (counts: Counts, digits = 1) => (totalOf(counts) / n).toFixed(digits);
  const ms = new Map([...b.cpuSeconds].map(([label, s]) => [label, s * 1000]));
  const lines = [
    `breakdown at ${b.rate} orders/s (${b.completed} orders shipped in the window${whole}):`,
    `  CPU ms per order: ${perOrder(ms, 2)} = ${perOrderList(ms, n, 20, 2)}`,
    `  Redis commands per order (INFO commandstats, scripts' commands included): ${perOrder(b.commands)} = ${perOrderList(b.commands, n)}`,
    `  bus messages per order (event streams' entries-added): ${perOrder(b.messages)} = ${perOrderList(b.messages, n, 20)}`,
  ];
  if (b.sample) {
    const { tally, orders, rate } = b.sample;
    const m = Math.max(1, orders);
    lines.push(
      `  top-level Redis commands per order (MONITOR over ${orders} orders at ${rate}/s): ${(totalOf(tally.topLevel) / m).toFixed(1)} = ${perOrderList(tally.topLevel, m)}`,
      `  run inside scripts per order (same sample): ${(totalOf(tally.inScripts) / m).toFixed(1)} = ${perOrderList(tally.inScripts, m)}`,
    );
  }
  return lines;
}

/**
 * Per-order counts minus an idle background: `count − perSecond × seconds` for each name, never below 0
 * (heartbeats, sweeps and blocking reads that time out run whether orders flow or not; a sequential
 * run's share of them grows with how long each order takes, which the machine's load decides).
 */
export function netOfBackground(
  counts: Counts,
  background: Counts,
  backgroundSeconds: number,
  seconds: number,
): Counts {
  const out: Counts = new Map();
  const names = new Set([...counts.keys()]);
  for (const name of names) {
    const idle = ((background.get(name) ?? 0) / Math.max(backgroundSeconds, 1e-9)) * seconds;
    out.set(name, Math.max(0, (counts.get(name) ?? 0) - idle));
  }
  return out;
}

/**
 * Rows `  <name>  <per order>  <net per order>` (largest first by the first column), names padded,
 * for the tables bench/order-calls.ts prints; `net` may be left out.
 */
export function perOrderTable(counts: Counts, orders: number, net?: Counts): string[] {
  const sorted = [...counts].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const width = Math.max(0, ...sorted.map(([name]) => name.length));
  const per = (n: number) => (n / Math.max(1, orders)).toFixed(2).padStart(8);
  return sorted.map(
    ([name, n]) => `    ${name.padEnd(width)} ${per(n)}${net ? ` ${per(net.get(name) ?? 0)}` : ""}`,
  );
}

const ESCAPES: Record<string, string> = {
  n: "\n",
  r: "\r",
  t: "\t",
  a: "\x07",
  b: "\b",
  '"': '"',
  "\\": "\\",
};

/**
 * One MONITOR line (`+<time> [<db> <source>] "<cmd>" "<arg>" …`, the leading `+` optional): the
 * sender (`ip:port`, or `lua` for a script's command) and the command's name and arguments, with
 * Redis's quoting undone (`\"`, `\\`, `\n`, `\xHH`…). Undefined for anything else (`+OK`).
 */
export function parseMonitorLine(line: string): { source: string; args: string[] } | undefined {
  const head = /^\+?\d+\.\d+ \[\d+ ([^\]]+)\] /.exec(line);
  if (!head) return undefined;
  const args: string[] = [];
  let i = head[0].length;
  while (i < line.length) {
    if (line[i] === " ") {
      i++;
      continue;
    }
    if (line[i] !== '"') return undefined;
    let arg = "";
    i++;
    for (;;) {
      const c = line[i];
      if (c === undefined) return undefined;
      if (c === '"') {
        i++;
        break;
      }
      if (c === "\\") {
        const next = line[i + 1] ?? "";
        if (next === "x") {
          arg += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          arg += ESCAPES[next] ?? next;
          i += 2;
        }
        continue;
      }
      arg += c;
      i++;
    }
    args.push(arg);
  }
  return { source: head[1]!, args };
}
