// FAULT-INJECTION HOOK, not a production option (see fault-clock-skew.ts, which starts processes
// with it). Plain JavaScript so Node can preload it (`NODE_OPTIONS=--import <this file>`) before
// any TypeScript loader is registered, also in the loader's own worker thread.
//
// With ORDERSAGA_FAULT_CLOCK_OFFSET_MS set to a number of ms, `Date.now()` and `new Date()` (no
// argument) read that much ahead (positive) or behind (negative) for the whole process, like a host
// whose clock is set off (no NTP, a VM resumed from a snapshot). `performance.now()` and timers are
// untouched: only the clock's setting is off, not its rate. Without the variable it does nothing.
import process from "node:process";

const offsetMs = Number(process.env.ORDERSAGA_FAULT_CLOCK_OFFSET_MS ?? 0);

if (Number.isFinite(offsetMs) && offsetMs !== 0 && !globalThis.__ordersagaClockSkewed) {
  globalThis.__ordersagaClockSkewed = true;
  const RealDate = Date;
  const skewedNow = () => RealDate.now() + offsetMs;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(skewedNow());
      else super(...args);
    }
    static now() {
      return skewedNow();
    }
  }
  globalThis.Date = SkewedDate;
}
