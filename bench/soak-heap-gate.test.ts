/**
 * The soak's heap gate at small scale, on real processes: two stand-ins serve their heap on
 * /metrics, one of them with the deliberate leak of the soak's `--leak-kb-per-second` (160 KB/s:
 * about 16 KB per user validation at 10 orders/s). Read as the soak reads them (a forced full
 * collection before each reading, bench/soak-gc-hook.mjs) for 20 s, the gate fails the leaking
 * one and passes the other. Without the forced collections a 2-minute slice missed that leak.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as pause } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { analyse, type SoakConfig } from "./soak-report.js";
import { HeapFloors, type ProcessProbe, type Sample, startTicks } from "./soak-sampler.js";

const hook = fileURLToPath(new URL("./soak-gc-hook.mjs", import.meta.url));
const fixture = fileURLToPath(new URL("./soak-heap-probe.fixture.ts", import.meta.url));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill();
});

function startProbe(label: string, leakBytesPerSecond: number): Promise<ProcessProbe> {
  const child = spawn(process.execPath, ["--expose-gc", "--import", hook, "--import", "tsx", fixture], {
    env: {
      ...process.env,
      SOAK_LEAK_BYTES_PER_SECOND: String(leakBytesPerSecond),
      SOAK_LEAK_PROCESS: "soak-heap-probe",
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once("message", (message) => {
      const { port } = message as { port: number };
      resolve({
        label,
        pid: child.pid!,
        metricsUrl: `http://127.0.0.1:${port}/metrics`,
        startTicks: startTicks(child.pid!),
      });
    });
    child.once("exit", (code) => reject(new Error(`${label} exited with ${code} before it was ready`)));
  });
}

const SECONDS = 20;
const SAMPLE_SECONDS = 2;

describe("the soak's heap gate", () => {
  it("fails a process leaking 160 KB/s and passes a steady one, within 20 s of readings", async () => {
    const probes = await Promise.all([startProbe("steady", 0), startProbe("leaking", 160 * 1024)]);
    const heaps = new HeapFloors(probes, 500, true);
    const samples: Sample[] = [];
    const startedAt = Date.now();
    try {
      // The soak's cadence at small scale: a reading every SAMPLE_SECONDS (a measurement, not a wait).
      for (let k = 0; k * SAMPLE_SECONDS <= SECONDS; k++) {
        const wait = startedAt + k * SAMPLE_SECONDS * 1000 - Date.now();
        if (wait > 0) await pause(wait);
        await heaps.poll();
        const t = (Date.now() - startedAt) / 1000;
        samples.push({
          t,
          orders: Math.round(t * 10),
          inFlight: 0,
          usedMemory: 0,
          transientBytes: 1,
          recordBytes: 0,
          families: new Map(),
          processes: new Map(
            probes.map((p) => [
              p.label,
              {
                alive: startTicks(p.pid) === p.startTicks,
                registered: true,
                rssBytes: 0,
                heapUsedBytes: heaps.take(p.label),
              },
            ]),
          ),
          problems: [],
        });
      }
    } finally {
      heaps.stop();
    }
    const config: SoakConfig = {
      minutes: SECONDS / 60,
      rate: 10,
      sampleSeconds: SAMPLE_SECONDS,
      warmupSeconds: 4,
      windowSeconds: 4,
      slackSeconds: 2,
      forcedGc: true,
      env: {},
      command: "test",
      machine: "test",
      date: "2026-01-01",
    };
    const load = { offered: 200, sent: 200, accepted: 200, failures: {}, endStatuses: { delivered: 200 } };
    const series = analyse(samples, config, load).series;
    const verdict = (label: string) => series.find((s) => s.name === `${label} heap used`);
    const readings = samples.map((s) => [...s.processes].map(([l, p]) => `${l}=${p.heapUsedBytes}`));
    expect(verdict("leaking")?.ok, JSON.stringify(readings)).toBe(false);
    expect(verdict("steady")?.ok, JSON.stringify(readings)).toBe(true);
  }, 90_000);
});
