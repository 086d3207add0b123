/**
 * Redis commands and bus messages per order, counted, not timed: numbers that do not depend on the
 * machine's load, to compare a change before and after.
 *
 *   npx tsx bench/order-calls.ts [orders]     (default 50)
 *
 * Starts a private `redis-server`, every service and the gateway as their own processes from the
 * compiled build (built first when stale), each connecting as its own Redis ACL user (so each
 * command's sender is known from `CLIENT LIST`), seeds a user and a product, places a few warm-up
 * orders, measures the idle background (heartbeats, sweeps, blocking reads that time out) for a few
 * seconds, then places `orders` orders one at a time, each waited for until it is shipped or failed,
 * under MONITOR, and waits for their deliveries (`SHIPPING_DELIVERY_DELAY_MS` later) and for the bus
 * to go quiet. Prints per order: top-level commands by command, by process and by key family
 * (src/system/key-families.ts), commands run inside scripts by command and by key family,
 * `INFO commandstats` (everything Redis ran), and bus messages by event (the event streams'
 * `entries-added`). Each table gives the count per order and the same net of the idle background
 * (which a sequential run accrues per order in proportion to how long an order takes).
 *
 * One order at a time is the least batched case: every message is read, handled and acknowledged on
 * its own, so the counts are an upper bound of what a loaded system does per order.
 */
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { provisionAclUsers } from "../src/system/redis-acl.js";
import { drain, seedOrderBody, watchOutcomes } from "./load-completion.js";
import { ensureBuild, startMultiProcess } from "./load-systems.js";
import {
  type CallTally,
  type Counts,
  countsDelta,
  cpuByLabel,
  MEASURING_COMMANDS,
  netOfBackground,
  parseClientList,
  perOrderList,
  perOrderTable,
  totalOf,
  without,
} from "./redis-calls.js";
import type { ProcStat } from "./order-cost.js";
import { snapshotTree, TICKS_PER_SECOND } from "./proc-cpu.js";
import { commandstats, monitorWindow, redisWindow, untilDeliveriesDone } from "./redis-probe.js";
import { redisServerPid, sleep, startBenchRedis } from "./support.js";

const USAGE = "Usage: npx tsx bench/order-calls.ts [orders]   (orders: a positive integer, default 50)";
const WARM_UP_ORDERS = 5;
const IDLE_MS = 10_000;

/** The number of orders from the arguments; throws with the usage on anything else. */
/**
 * The progress line after `done` of `total` measured orders (stderr; new-user bench finding 10: the
 * run printed nothing for a minute): every 10th order and the last, undefined in between.
 */
export function ordersProgress(done: number, total: number, elapsedMs: number): string | undefined {
  if (done !== total && done % 10 !== 0) return undefined;
  return `order-calls: ${done}/${total} orders measured (${(elapsedMs / 1000).toFixed(0)} s)`;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

export function ordersArg(args: readonly string[]): number {
  if (args.length === 0) return 50;
  const n = Number(args[0]);
  if (args.length > 1 || !Number.isInteger(n) || n <= 0) throw new Error(USAGE);
  return n;
}

async function placeOrder(gatewayUrl: string, body: string): Promise<string> {
  const res = await fetch(`${gatewayUrl}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const json = (await res.json()) as { orderId?: string };
  if (res.status !== 202 || !json.orderId)
    throw new Error(`POST /orders → ${res.status} ${JSON.stringify(json)}`);
  return json.orderId;
}

/**
 * address → label (the ACL user: a service's name, `gateway`; `default` is this benchmark); what
 * follows a tab in a name (`bySourceCall`: the command and key family) is kept after the label.
 */
function relabel(bySource: Counts, clients: Map<string, string>): Counts {
  const out: Counts = new Map();
  for (const [name, n] of bySource) {
    const tab = name.indexOf("\t");
    const address = tab < 0 ? name : name.slice(0, tab);
    const user = clients.get(address);
    const label =
      user === undefined ? "(closed connection)" : user === "default" ? "bench (outcome watcher)" : user;
    const key = tab < 0 ? label : `${label} ${name.slice(tab + 1)}`;
    out.set(key, (out.get(key) ?? 0) + n);
  }
  return out;
}

function section(title: string, counts: Counts, orders: number, net: Counts): string[] {
  return [
    `${title}: ${(totalOf(counts) / orders).toFixed(2)} per order, ${(totalOf(net) / orders).toFixed(2)} net of the idle background`,
    ...perOrderTable(counts, orders, net),
  ];
}

async function main(orders: number): Promise<void> {
  ensureBuild();
  progress("order-calls: starting a private redis-server and every service (compiled build)…");
  const server = await startBenchRedis();
  const admin = new Redis(server.url, { maxRetriesPerRequest: null });
  try {
    const redisUsers = await provisionAclUsers(admin);
    const target = await startMultiProcess(
      server.url,
      { GATEWAY_RATE_LIMIT_PER_MINUTE: "0" },
      true,
      redisUsers,
    );
    try {
      const outcomes = await watchOutcomes(target.transport, "order-calls", { delivered: true });
      try {
        const body = await seedOrderBody(target.gatewayUrl, `calls-${Date.now()}`);
        const ids: string[] = [];
        const oneAtATime = async (n: number, report = false): Promise<void> => {
          const started = performance.now();
          for (let i = 0; i < n; i++) {
            const id = await placeOrder(target.gatewayUrl, body);
            ids.push(id);
            const placed = new Map([[id, { sentAt: 0, acceptedAt: 0 }]]);
            await drain(
              {
                placed,
                offered: 1,
                sent: 1,
                accepted: 1,
                resent: 0,
                replayed: 0,
                failures: {},
                startedAt: 0,
                seconds: 0,
              },
              outcomes,
              30_000,
            );
            if (!outcomes.shipped.has(id) && !outcomes.failed.has(id))
              throw new Error(`order ${id}: no outcome within 30 s`);
            const line = report ? ordersProgress(i + 1, n, performance.now() - started) : undefined;
            if (line) progress(line);
          }
        };
        // Delivery follows shipment by SHIPPING_DELIVERY_DELAY_MS (5 s), for every order at once.
        const untilDelivered = async (): Promise<void> => {
          const until = performance.now() + 60_000;
          while (
            ids.some((id) => outcomes.shipped.has(id) && !outcomes.delivered.has(id)) &&
            performance.now() < until
          )
            await sleep(100);
        };
        progress(`order-calls: system up; ${WARM_UP_ORDERS} warm-up orders, then their deliveries…`);
        await oneAtATime(WARM_UP_ORDERS);
        await untilDelivered();
        await untilDeliveriesDone(admin, { maxMs: 15_000, pollMs: 200 });
        ids.length = 0;

        // The outcome watcher's connections (this process, the default user) exist by now: its
        // commands are tallied apart, and taken out of INFO commandstats' counts.
        const users = parseClientList(String(await admin.call("CLIENT", "LIST")));
        const redisPid = await redisServerPid(admin);
        const roots = [process.pid, redisPid];
        const labels = new Map([
          ...[...target.pids].map(([label, pid]) => [pid, label] as const),
          [redisPid, "redis-server"],
        ]);
        const msByLabel = (before: ProcStat[], after: ProcStat[]): Counts =>
          new Map(
            [...cpuByLabel(before, after, TICKS_PER_SECOND, labels, "bench (watcher, MONITOR reader)")].map(
              ([label, sec]) => [label, sec * 1000],
            ),
          );
        const watcher = (address: string) => users.get(address) === "default";
        const addresses = (tally: CallTally) => tally.bySource;
        const idleMonitor = await monitorWindow(admin, (address) => address, watcher);
        const idleStats = await commandstats(admin);
        const idleCpu = snapshotTree(roots);
        progress(`order-calls: ${IDLE_MS / 1000} s of idle background, no orders…`);
        await sleep(IDLE_MS);
        const idleCpuMs = msByLabel(idleCpu, snapshotTree(roots));
        const idleCommands = without(countsDelta(idleStats, await commandstats(admin)), (n) =>
          MEASURING_COMMANDS.test(n),
        );
        const idle = (await idleMonitor.stop()).calls;
        const idleSeconds = IDLE_MS / 1000;

        const shippedBefore = outcomes.shipped.size;
        const failedBefore = outcomes.failed.size;
        const monitor = await monitorWindow(admin, (address) => address, watcher);
        const work = await redisWindow(admin);
        const started = performance.now();
        const cpu = snapshotTree(roots);
        await oneAtATime(orders, true);
        progress("order-calls: waiting for the deliveries (5 s after shipment)…");
        await untilDelivered();
        await untilDeliveriesDone(admin, { maxMs: 15_000, pollMs: 200 });
        const cpuMs = msByLabel(cpu, snapshotTree(roots));
        const seconds = (performance.now() - started) / 1000;
        const { calls: tally, excluded } = await monitor.stop();
        const counted = await work.stop();
        const systemCommands = new Map(
          [...counted.commands].map(([name, n]) => [
            name,
            Math.max(0, n - (excluded.topLevel.get(name) ?? 0)),
          ]),
        );
        const clients = parseClientList(String(await admin.call("CLIENT", "LIST")));
        const shipped = outcomes.shipped.size - shippedBefore;
        const failed = outcomes.failed.size - failedBefore;
        const delivered = ids.filter((id) => outcomes.delivered.has(id)).length;

        const net = (counts: Counts, background: Counts) =>
          netOfBackground(counts, background, idleSeconds, seconds);
        const bySource = relabel(addresses(tally), clients);
        const idleBySource = relabel(addresses(idle), clients);
        const bySourceCall = relabel(tally.bySourceCall, clients);
        const idleBySourceCall = relabel(idle.bySourceCall, clients);
        const lines = [
          `order-calls: ${orders} orders placed one at a time (each waited for to its outcome), ${shipped} shipped (${delivered} delivered), ${failed} failed, in ${seconds.toFixed(1)} s`,
          `compiled build, every process its own Redis ACL user, private redis-server; ${WARM_UP_ORDERS} warm-up orders before`,
          `idle background (${idleSeconds} s, no orders): ${(totalOf(idle.topLevel) / idleSeconds).toFixed(1)} top-level commands/s, ${(totalOf(idleCommands) / idleSeconds).toFixed(1)} in INFO commandstats/s`,
          "",
          ...section(
            "top-level Redis commands (MONITOR), by command",
            tally.topLevel,
            orders,
            net(tally.topLevel, idle.topLevel),
          ),
          ...section("top-level Redis commands, by process", bySource, orders, net(bySource, idleBySource)),
          ...section(
            "top-level Redis commands, by process, command and key family (a script call by its first key)",
            bySourceCall,
            orders,
            net(bySourceCall, idleBySourceCall),
          ),
          ...section(
            "top-level Redis commands, by key family (a script call by its first key)",
            tally.topLevelByFamily,
            orders,
            net(tally.topLevelByFamily, idle.topLevelByFamily),
          ),
          ...section(
            "commands run inside scripts, by command",
            tally.inScripts,
            orders,
            net(tally.inScripts, idle.inScripts),
          ),
          ...section(
            "commands run inside scripts, by key family",
            tally.inScriptsByFamily,
            orders,
            net(tally.inScriptsByFamily, idle.inScriptsByFamily),
          ),
          `bench's outcome watcher (left out above): ${(totalOf(excluded.topLevel) / orders).toFixed(2)} top-level commands per order`,
          ...section(
            "INFO commandstats (everything Redis ran but the watcher's top-level commands), by command",
            systemCommands,
            orders,
            net(systemCommands, idleCommands),
          ),
          ...section("bus messages, by event", counted.messages, orders, counted.messages),
          "",
          `timed, so load-dependent (load average ${loadavg()
            .map((l) => l.toFixed(2))
            .join(" ")}); MONITOR inflates redis-server's and the bench's share:`,
          `idle CPU ms per second by process: ${perOrderList(idleCpuMs, idleSeconds, 20, 2)}`,
          ...section("CPU ms, by process", cpuMs, orders, net(cpuMs, idleCpuMs)),
        ];
        console.log(lines.join("\n"));
      } finally {
        await outcomes.stop();
      }
    } finally {
      await target.stop();
    }
  } finally {
    admin.disconnect();
    await server.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let orders: number;
  try {
    orders = ordersArg(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  await main(orders);
}
