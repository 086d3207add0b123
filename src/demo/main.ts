/**
 * `npm run demo`: the spec's five scenarios through the gateway's HTTP API, with a readable
 * timeline. Where it runs is decided in target.ts (`--gateway URL`; with REDIS_URL the running
 * system or one of its own in an empty database; else embedded). Exits as soon as the summary is
 * printed: non-zero if any scenario did not end as expected or a process it started died.
 */
import { randomUUID } from "node:crypto";
import { createApiClient, gatewayAccessProblem } from "./client.js";
import { runScenarios } from "./scenarios.js";
import { redisConnectTimeoutMs } from "../system/dev-secrets-start.js";
import { DemoArgsError, demoUsage, parseDemoArgs, type DemoArgs } from "./demo-args.js";
import { demoStartTimeoutMs, demoTarget } from "./target.js";

// Checked before anything starts: --help is the usage (exit 0), a mistake one line (exit 2), not a
// stack trace (newuser9 F1).
let values: DemoArgs;
try {
  values = parseDemoArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof DemoArgsError)) throw error;
  console.error(`demo: ${error.message}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(demoUsage());
  process.exit(0);
}
/** For a gateway with GATEWAY_API_KEYS: `--api-key KEY` or the GATEWAY_API_KEY environment variable. */
const apiKey = values.apiKey ?? process.env.GATEWAY_API_KEY;

// REDIS_URL (scheme, database), REDIS_CONNECT_TIMEOUT_MS and NODE_ENV by the launchers' rule: a bad
// one is a line naming it, not "connect ENOENT" (newuser8 L4); DEMO_START_TIMEOUT_MS too. Unused
// with --gateway.
let startTimeoutMs: number | undefined;
if (!values.gateway) {
  try {
    redisConnectTimeoutMs();
    startTimeoutMs = demoStartTimeoutMs();
  } catch (error) {
    console.error(`The demo could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
const started = Date.now();
/** A process of the demo's own system died: the process exits once the rest is stopped. */
let dead = false;
const untilExit = () => new Promise<never>(() => {});
const target = await demoTarget({
  gateway: values.gateway,
  redisUrl: process.env.REDIS_URL,
  redisConnectTimeoutMs: process.env.REDIS_CONNECT_TIMEOUT_MS
    ? Number(process.env.REDIS_CONNECT_TIMEOUT_MS)
    : undefined,
  startTimeoutMs,
  onStarting: (line) => console.log(line),
  // A process of the demo's own system died: its results would mean nothing. Stop at once.
  // Nothing after this line is reported: not the scenarios failing against the system going down.
  onDeath: (message, stopped) => {
    dead = true;
    console.error(`\nFAILED: ${message}; the demo stops.`);
    void stopped.finally(() => process.exit(1));
  },
}).catch((error: unknown) => {
  console.error(`The demo could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
if (dead) await untilExit();
console.log(`Ordersaga demo: ${target.mode}\nGateway: ${target.url}\n`);
const api = createApiClient(target.url, { apiKey });
// A gateway with API keys and no (admin) key given, or one that cannot be reached: one line saying
// what to do, not five scenarios of 401s or "fetch failed" (break13 F5).
const accessProblem = await gatewayAccessProblem(api, apiKey !== undefined);
if (accessProblem !== undefined) {
  console.error(`The demo cannot run: ${accessProblem}`);
  await target.end();
  process.exit(1);
}
let failed = 0;
try {
  const results = await runScenarios({
    api,
    runId: randomUUID().slice(0, 8),
    timeoutMs: values.timeoutMs ?? 15_000,
  });
  if (dead) await untilExit();
  for (const result of results) {
    console.log(`${result.ok ? "PASS" : "FAIL"}  ${result.name}`);
    for (const line of result.lines) console.log(`  ${line}`);
    for (const failure of result.failures)
      if (!result.lines.some((l) => l.includes(failure))) console.log(`  ✘ ${failure}`);
    console.log("");
    if (!result.ok) failed++;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${results.length - failed} passed, ${failed} failed (${seconds} s)`);
} catch (error) {
  if (dead) await untilExit();
  console.error(`The demo stopped: ${error instanceof Error ? error.message : String(error)}`);
  failed++;
} finally {
  await target.end();
}
process.exit(failed === 0 ? 0 : 1);
