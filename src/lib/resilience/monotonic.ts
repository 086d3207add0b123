/**
 * The clock of LOCAL durations (elapsed time inside one process: breaker open times, token
 * buckets, cache ages, budgets). Epoch-based ms on the process's monotonic source: it runs at the
 * wall clock's rate but never steps with it (an NTP step or a VM resume moves `Date.now()`, not
 * this; DESIGN §6: a step of a host's clock changes nothing). Only differences of its values mean
 * anything; a DATE shown or compared across hosts comes from the shared clock (Redis `TIME`).
 * Whole ms, as `Date.now()`: budgets and waits derived from it are stated in messages and headers.
 */
export const monotonicNow = (): number => Math.floor(performance.timeOrigin + performance.now());
