/**
 * One sample of the soak run: Redis memory, keys and bytes per key family, stream lengths, and
 * every process's RSS (from /proc) and V8 heap used (from its /metrics).
 */
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { readModelKey } from "../src/lib/eventstore/keys.js";
import { KEY_FAMILIES } from "../src/system/key-families.js";
import { type FamilyUsage, scanKeys } from "../src/system/key-scan.js";
import { deadlineIndexKey, ORDER_TAG } from "../src/services/order/keys.js";
import { instanceKey, serviceIndexKey } from "../src/lib/discovery/keys.js";

export interface ProcessProbe {
  label: string;
  pid: number;
  /** The process's /metrics (process metrics on: heap used). */
  metricsUrl: string | undefined;
  /** Its start time in clock ticks since boot (/proc/<pid>/stat), read when probed (`startTicks`). */
  startTicks: string | undefined;
  /** A service's instance id in the registry when probed (undefined: the gateway, not registered). */
  instanceId?: string;
}

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined
 * when it is gone or a zombie (or not Linux). A pid reused by a new process has another.
 */
export function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), from field 3 (state).
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

export interface ProcessMemory {
  /**
   * The probed process still runs (not a zombie) and is the same one: its start time in /proc is
   * the one read when it was probed. false: it died, or something restarted it.
   */
  alive: boolean;
  /**
   * A service's probed instance is still in the registry (its id in the service's index and its
   * instance key alive): false when its heartbeats lapsed or another instance replaced it. Always
   * true for the gateway, which does not register.
   */
  registered: boolean;
  rssBytes: number;
  /**
   * Lowest heap used seen since the previous sample (polled every few seconds): the floor of the
   * garbage collector's sawtooth, which is what grows when something leaks. undefined when the
   * process's /metrics never answered.
   */
  heapUsedBytes: number | undefined;
}

/**
 * Polls every process's heap used and keeps the lowest value per process until taken. With
 * `forceGc` (processes preloaded with bench/soak-gc-hook.mjs and --expose-gc) each poll first asks
 * the process for a full collection (SIGUSR2), so the value is the heap it retains: a leak of a few
 * KB per order then stands out of the noise within minutes, where the sawtooth's floor needs a long
 * run to show it.
 */
export class HeapFloors {
  private readonly floors = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly processes: readonly ProcessProbe[],
    intervalMs: number,
    private readonly forceGc = false,
  ) {
    this.timer = setInterval(() => void this.poll(), intervalMs);
  }

  async poll(): Promise<void> {
    await Promise.all(
      this.processes.map(async (p) => {
        if (this.forceGc) {
          try {
            process.kill(p.pid, "SIGUSR2");
          } catch {
            return; // the process is gone: no reading
          }
        }
        const heap = await heapOf(p.metricsUrl);
        if (heap === undefined) return;
        this.floors.set(p.label, Math.min(heap, this.floors.get(p.label) ?? Number.POSITIVE_INFINITY));
      }),
    );
  }

  /** The floor since the last take, and a fresh start. */
  take(label: string): number | undefined {
    const floor = this.floors.get(label);
    this.floors.delete(label);
    return floor;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  /** Orders in the read model (every order placed and projected), read after the key scan. */
  orders: number;
  /**
   * The same count read before the key scan (absent: `orders`). The scan takes seconds under load
   * while orders keep arriving, so the keys it saw belong to somewhere between the two counts.
   */
  ordersAtScanStart?: number;
  /** Orders whose saga is still running (the deadline index). */
  inFlight: number;
  usedMemory: number;
  /** Sums of MEMORY USAGE over the transient and the system-of-record families. */
  transientBytes: number;
  recordBytes: number;
  families: Map<string, FamilyUsage>;
  processes: Map<string, ProcessMemory>;
  /** Keys of no family and transient keys over their bound, at this sample. */
  problems: string[];
}

function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0; // the process is gone (or not Linux): reported as 0
  }
}

async function heapOf(url: string | undefined): Promise<number | undefined> {
  if (!url) return undefined;
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
    const value = /^ordersaga_nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)/m.exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

export interface SampleOptions {
  redis: Redis;
  processes: readonly ProcessProbe[];
  heaps: HeapFloors;
  startedAt: number;
  streamRetentionMs: number;
  dlqAuditRetentionMs: number;
  /** `MARKER_TTL_MS` and `HEARTBEAT_INTERVAL_MS` of the run: the TTL bounds the scan holds keys to. */
  markerTtlMs: number;
  heartbeatIntervalMs: number;
  slackMs: number;
  /** How long an entry may wait for a group, a pending entry may live, a due member may be late (ms). */
  groupLagMs: number;
  pendingMaxAgeMs: number;
  overdueMs: number;
  /** Keys measured per family for bytes (MEMORY USAGE), extrapolated to the family. */
  bytesSample?: number;
}

export async function takeSample(options: SampleOptions): Promise<Sample> {
  const { redis } = options;
  const now = Date.now();
  const ordersAtScanStart = await redis.hlen(readModelKey(ORDER_TAG, "order-view-v1"));
  const scan = await scanKeys(
    redis,
    {
      streamRetentionMs: options.streamRetentionMs,
      dlqAuditRetentionMs: options.dlqAuditRetentionMs,
      markerTtlMs: options.markerTtlMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      slackMs: options.slackMs,
      groupLagMs: options.groupLagMs,
      pendingMaxAgeMs: options.pendingMaxAgeMs,
      overdueMs: options.overdueMs,
      now,
    },
    { bytes: { sample: options.bytesSample ?? 200 } },
  );
  let transientBytes = 0;
  let recordBytes = 0;
  for (const family of KEY_FAMILIES) {
    const bytes = scan.usage.get(family.pattern)?.bytes ?? 0;
    if (family.role === "record") recordBytes += bytes;
    else transientBytes += bytes;
  }
  const info = await redis.info("memory");
  const [orders, inFlight] = await Promise.all([
    redis.hlen(readModelKey(ORDER_TAG, "order-view-v1")),
    redis.zcard(deadlineIndexKey(ORDER_TAG, "order-deadlines-v1")),
  ]);
  await options.heaps.poll();
  const processes = new Map<string, ProcessMemory>();
  for (const p of options.processes) {
    const registered =
      p.instanceId === undefined ||
      ((await redis.sismember(serviceIndexKey(p.label), p.instanceId)) === 1 &&
        (await redis.exists(instanceKey(p.label, p.instanceId))) === 1);
    const alive = p.startTicks !== undefined && startTicks(p.pid) === p.startTicks;
    processes.set(p.label, {
      alive,
      registered,
      rssBytes: rssOf(p.pid),
      heapUsedBytes: options.heaps.take(p.label),
    });
  }
  return {
    t: (now - options.startedAt) / 1000,
    orders,
    ordersAtScanStart,
    inFlight,
    usedMemory: Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0),
    transientBytes,
    recordBytes,
    families: scan.usage,
    processes,
    problems: [...scan.unknown.map((k) => `${k}: no documented family`), ...scan.violations],
  };
}
