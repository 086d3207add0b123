/** The process's run gate: which crash-suspect runs count as alone (break21 N1, N2). */
import { describe, expect, it } from "vitest";
import { waitFor } from "../../../test-support/wait.js";
import { RunGate, type GateRun } from "./redis-streams-isolation.js";

const LONG = 600_000;

/** A suspect's entry into `gate`, recording when its count is undone. */
function suspect(gate: RunGate, events: string[], name: string, isolationMs: number, hungMs = LONG) {
  return gate.enterSuspect({
    isolationMs,
    hungMs,
    onCompany: async () => {
      events.push(`${name} uncounted`);
    },
  });
}

describe("RunGate", () => {
  it("undoes the count of a suspect that outlives its hold before anything starts beside it", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const slow = await suspect(gate, events, "slow", 100);
    expect(slow.alone).toBe(true);
    const ordinary = gate.enterOrdinary({ hungMs: LONG }).then((leave) => {
      events.push("ordinary started");
      return leave;
    });
    await waitFor(() => events.length >= 2, 5_000, "the ordinary run");
    expect(events).toEqual(["slow uncounted", "ordinary started"]);
    (await ordinary).leave();
    slow.leave();
  });

  it("keeps the count of a suspect past its hold that nothing joined (a late crash is its own)", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const late = await suspect(gate, events, "late", 20);
    const next = suspect(gate, events, "next", 20); // a suspect waits for it: no company
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events).toEqual([]);
    late.leave();
    (await next).leave();
    expect(events).toEqual([]);
  });

  it("never starts a second suspect beside a running one, even past its hold", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const slow = await suspect(gate, events, "slow", 50);
    let poison: GateRun | undefined;
    const entering = suspect(gate, events, "poison", 50).then((run) => (poison = run));
    // An ordinary run joins the slow one once its hold is over.
    (await gate.enterOrdinary({ hungMs: LONG })).leave();
    expect(events).toEqual(["slow uncounted"]);
    // Well past both holds: the poison one still waits for the slow one, then runs alone (counted).
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(poison).toBeUndefined();
    slow.leave();
    await entering;
    expect(poison?.alone).toBe(true);
    poison?.leave();
  });

  it("starts the next suspect once the running one is taken for hung; both keep their counts", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const hung = await suspect(gate, events, "hung", 50, 300);
    const next = await suspect(gate, events, "next", 50);
    expect(next.alone).toBe(true);
    expect(events).toEqual([]);
    next.leave();
    hung.leave();
  });

  it("starts a suspect in company, not counted, when ordinary runs do not return in time", async () => {
    const gate = new RunGate();
    const ordinary = await gate.enterOrdinary({ hungMs: LONG });
    const run = await suspect(gate, [], "s", 100);
    expect(run.alone).toBe(false);
    // Not holding: an ordinary run starts beside it at once.
    (await gate.enterOrdinary({ hungMs: LONG })).leave();
    run.leave();
    ordinary.leave();
  });

  it("holds new ordinary runs off while a suspect waits for the running ones", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const first = await gate.enterOrdinary({ hungMs: LONG });
    const entering = suspect(gate, events, "s", LONG);
    const second = gate.enterOrdinary({ hungMs: LONG }).then((leave) => {
      events.push("second started");
      return leave;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual([]);
    first.leave();
    const run = await entering;
    expect(run.alone).toBe(true);
    expect(events).toEqual([]);
    run.leave();
    (await second).leave();
    expect(events).toEqual(["second started"]);
  });

  /** A recheck that says explained once `state.explained` is set, counting its calls. */
  const recheckOn = (state: { explained: boolean; calls: number }) => ({
    everyMs: 10,
    explained: async () => {
      state.calls++;
      return state.explained;
    },
  });

  it("lets a waiting suspect explained meanwhile run as an ordinary run, not alone, and the held runs start", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const state = { explained: false, calls: 0 };
    const busy = await gate.enterOrdinary({ hungMs: LONG });
    const entering = gate.enterSuspect({
      isolationMs: LONG,
      hungMs: LONG,
      onCompany: async () => void events.push("uncounted"),
      recheck: recheckOn(state),
    });
    const held = gate.enterOrdinary({ hungMs: LONG }).then((run) => {
      events.push("held started");
      return run;
    });
    await waitFor(() => state.calls >= 2, 5_000, "the suspect's re-reads");
    expect(events).toEqual([]);
    state.explained = true;
    const run = await entering;
    expect([run.alone, run.explained]).toEqual([false, true]);
    (await held).leave();
    expect(events).toEqual(["held started"]);
    // Not a suspect: another one does not wait for it past its isolationMs.
    const next = await suspect(gate, events, "next", 20);
    expect(next.alone).toBe(false);
    for (const r of [next, run, busy]) r.leave();
  });

  it("ends the hold of a suspect explained while it runs alone: its count undone, then ordinary runs start", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const state = { explained: false, calls: 0 };
    const run = await gate.enterSuspect({
      isolationMs: LONG,
      hungMs: LONG * 2,
      onCompany: async () => void events.push("uncounted"),
      recheck: recheckOn(state),
    });
    expect([run.alone, run.explained]).toEqual([true, false]);
    const ordinary = gate.enterOrdinary({ hungMs: LONG }).then((r) => {
      events.push("ordinary started");
      return r;
    });
    await waitFor(() => state.calls >= 2, 5_000, "the holder's re-reads");
    expect(events).toEqual([]);
    state.explained = true;
    (await ordinary).leave();
    expect(events).toEqual(["uncounted", "ordinary started"]);
    const calls = state.calls;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(state.calls).toBe(calls); // no re-reads once the hold is over
    run.leave();
  });

  it("keeps the count of an explained holder that nothing joined (a crash alone is still its own)", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const state = { explained: true, calls: 0 };
    const run = await gate.enterSuspect({
      isolationMs: LONG,
      hungMs: LONG * 2,
      onCompany: async () => void events.push("uncounted"),
      recheck: recheckOn(state),
    });
    await waitFor(() => state.calls >= 1, 5_000, "the holder's re-read");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual([]);
    run.leave();
  });

  it("re-reads only the first suspect in line, and the next one at once as it becomes first", async () => {
    const gate = new RunGate();
    const first = { explained: false, calls: 0 };
    const second = { explained: true, calls: 0 };
    const busy = await gate.enterOrdinary({ hungMs: LONG });
    const entering = [
      gate.enterSuspect({
        isolationMs: LONG,
        hungMs: LONG,
        onCompany: async () => {},
        recheck: recheckOn(first),
      }),
      // Its re-reads 60 s apart: only the one as it becomes first can explain it within this test.
      gate.enterSuspect({
        isolationMs: LONG,
        hungMs: LONG,
        onCompany: async () => {},
        recheck: { ...recheckOn(second), everyMs: 60_000 },
      }),
    ];
    await waitFor(() => first.calls >= 2, 5_000, "the first suspect's re-reads");
    expect(second.calls).toBe(0);
    first.explained = true;
    const runs = await Promise.all(entering);
    expect(runs.map((run) => run.explained)).toEqual([true, true]);
    expect(second.calls).toBe(1);
    for (const run of [...runs, busy]) run.leave();
  });

  it("re-reads a suspect first in line with nothing running before admitting it alone: explained, it runs as an ordinary run (break36 F2)", async () => {
    const gate = new RunGate();
    const events: string[] = [];
    const state = { explained: true, calls: 0 };
    const run = await gate.enterSuspect({
      isolationMs: LONG,
      hungMs: LONG,
      onCompany: async () => void events.push("uncounted"),
      recheck: { ...recheckOn(state), everyMs: 60_000 },
    });
    expect([run.alone, run.explained, state.calls]).toEqual([false, true, 1]);
    // No hold: an ordinary run starts beside it at once.
    (await gate.enterOrdinary({ hungMs: LONG })).leave();
    expect(events).toEqual([]);
    run.leave();
  });

  it("re-reads a suspect at once as it becomes first in line behind a running suspect, not those behind it (break36 F2)", async () => {
    const gate = new RunGate();
    const running = await gate.enterSuspect({ isolationMs: LONG, hungMs: LONG, onCompany: async () => {} });
    const first = { explained: false, calls: 0 };
    const behind = { explained: true, calls: 0 };
    const enter = (state: { explained: boolean; calls: number }) =>
      gate.enterSuspect({
        isolationMs: LONG,
        hungMs: LONG,
        onCompany: async () => {},
        recheck: { ...recheckOn(state), everyMs: 60_000 },
      });
    const entering = enter(first);
    const back = enter(behind);
    await waitFor(() => first.calls === 1, 5_000, "the first suspect's re-read while another suspect runs");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(behind.calls).toBe(0);
    running.leave();
    // Read as it became first: admitted alone on that read, no second one.
    const run = await entering;
    expect([run.alone, run.explained, first.calls]).toEqual([true, false, 1]);
    // The next is first now, behind a running suspect: read at once, explained, it waits as an ordinary run.
    await waitFor(() => behind.calls === 1, 5_000, "the next suspect's re-read as it becomes first");
    run.leave();
    const next = await back;
    expect([next.alone, next.explained]).toEqual([false, true]);
    next.leave();
  });
});
