/**
 * FAULT-INJECTION HOOK, not a production option: the fault suite starts one process with its clock
 * set wrong (issue 8, input 5: instances whose clocks differ by more than the step budget). The
 * preloaded module `fault-clock-skew.mjs` shifts `Date.now()` and `new Date()` of that process by
 * `ORDERSAGA_FAULT_CLOCK_OFFSET_MS`; no service reads that variable, and a process started without
 * this environment is untouched.
 */
import { fileURLToPath } from "node:url";

export const CLOCK_OFFSET_ENV = "ORDERSAGA_FAULT_CLOCK_OFFSET_MS";

const hook = fileURLToPath(new URL("./fault-clock-skew.mjs", import.meta.url));

/** Environment for a child Node process whose clock reads `offsetMs` ms ahead (or behind, < 0). */
export function faultClockSkewEnv(offsetMs: number): Record<string, string> {
  return {
    [CLOCK_OFFSET_ENV]: String(offsetMs),
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import ${hook}`].filter(Boolean).join(" "),
  };
}
