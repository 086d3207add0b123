/**
 * What signing, verification and field encryption cost (issue 12): the library's Streams path with
 * every message carrying a token-like field, in clear and unsigned vs signed (HMAC-SHA256),
 * verified, and the field sealed and opened (AES-256-GCM), in the same run, alternating, best of
 * `rounds`. Plus the CPU cost per message of the four operations alone, in a tight loop.
 * Part of `npm run bench`; `npx tsx bench/bus-security.ts` runs only this and prints its section.
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { FieldCipher } from "../src/lib/security/encryption.js";
import { Keyring } from "../src/lib/security/keyring.js";
import { createSigner, createVerifier } from "../src/lib/security/signing.js";
import { type BusResult, type LibraryRun, libraryStreams } from "./bus.js";
import { round, startBenchRedis } from "./support.js";

export interface SecurityResult {
  throughput: [BusResult, BusResult, BusResult];
  /** CPU µs per message of sign + verify + seal + open, measured alone. */
  microsPerMessage: number;
  /** CPU µs per message of sign + verify alone. */
  signMicros: number;
  /** Runs per setting. */
  rounds: number;
}

/** The four operations on a typical envelope (about 450 bytes), `n` times: CPU µs per message. */
export function cryptoMicros(n = 100_000, withSealing = true): number {
  const keyring = Keyring.generate(["payment"]);
  const signer = createSigner(keyring, "payment");
  const verifier = createVerifier(keyring);
  const cipher = new FieldCipher([{ kid: "k1", secret: randomBytes(32) }]);
  const envelope = JSON.stringify({
    id: "01a20c5e-0000-7000-8000-000000000001",
    event: "payment.processed",
    version: 1,
    occurredAt: new Date().toISOString(),
    source: { service: "payment", instance: "payment-host-1" },
    correlationId: "01a20c5e-0000-7000-8000-000000000000",
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    attributes: {},
    payload: { orderId: "01a20c5e-0000-7000-8000-000000000000", paymentId: "pay-1", amount: 3000 },
  });
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      const sealed = withSealing
        ? cipher.seal("tok_ok__0123456789abcdef", "o-1")
        : "tok_ok__0123456789abcdef";
      const body = signer.sign(
        envelope.replace('"attributes":{}', `"attributes":{"s":"${sealed}"}`),
        "payment",
      );
      verifier.verify(body, "payment.processed", "payment");
      if (withSealing) cipher.open(sealed, "o-1");
    }
  };
  run(5_000);
  // CPU time, not wall time: on a loaded machine the wall clock also counts other processes' turns.
  const before = process.cpuUsage();
  run(n);
  const cpu = process.cpuUsage(before);
  return round((cpu.user + cpu.system) / n, 2);
}

export async function benchSecurity(url: string, total = 25_000, rounds = 8): Promise<SecurityResult> {
  const settings: LibraryRun[] = [
    { label: "unsigned, field in clear", security: "clear" },
    { label: "signed + verified (HMAC-SHA256), field in clear", security: "signed" },
    { label: "signed + verified, field sealed + opened (AES-256-GCM)", security: "sealed" },
  ];
  for (const setting of settings) await libraryStreams(url, 5_000, undefined, setting);
  const best: (BusResult | undefined)[] = settings.map(() => undefined);
  const leastCpu = settings.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < rounds; r++) {
    for (const [i, setting] of settings.entries()) {
      const result = await libraryStreams(url, total, undefined, setting);
      if (!best[i] || result.perSecond > best[i].perSecond) best[i] = result;
      leastCpu[i] = Math.min(leastCpu[i]!, result.cpuMicros ?? Number.POSITIVE_INFINITY);
    }
  }
  // Each row: its best throughput run, with the least CPU per message seen over its runs.
  for (const [i, result] of best.entries()) if (result) result.cpuMicros = leastCpu[i];
  return {
    throughput: best as [BusResult, BusResult, BusResult],
    microsPerMessage: cryptoMicros(),
    signMicros: cryptoMicros(100_000, false),
    rounds,
  };
}

const row = (r: BusResult) =>
  `| ${r.label} | ${r.messages.toLocaleString("en-US")} | ${r.perSecond.toLocaleString("en-US")} | ${r.cpuMicros ?? "–"} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max} |`;

export function securityMarkdown(result: SecurityResult): string {
  const [plain, signed, sealed] = result.throughput;
  const cost = (r: BusResult) => round((1 - r.perSecond / plain.perSecond) * 100, 1);
  const cpuCost = (r: BusResult) => round(((r.cpuMicros ?? 0) / (plain.cpuMicros ?? 1) - 1) * 100, 1);
  const perMessageUs = round(1e6 / plain.perSecond, 1);
  return `### What signing and encryption cost

${plain.messages.toLocaleString("en-US")} messages as fast as possible through the library's Streams path, each carrying a
token-like field: unsigned with the field in clear; signed (HMAC-SHA256 over the encoded envelope)
and verified before handling; and signed, verified, with the field sealed on publish and opened in
the handler (AES-256-GCM, fresh nonce). Best of ${result.rounds} runs per setting, alternating, in the same run;
*CPU µs/msg*: the benchmark process's CPU time (user + system) per message, least over the ${result.rounds} runs
(Redis's own CPU not included), which the machine's load disturbs less than msgs/s.
Load average on the machine when measured: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(", ")} (2 cores).

| path | messages | msgs/s | CPU µs/msg | p50 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|---:|
${row(plain)}
${row(signed)}
${row(sealed)}

**Throughput cost: signing + verifying ${cost(signed)}%, with field encryption too ${cost(sealed)}%**
(target: under 10%); in CPU per message: +${cpuCost(signed)}% and +${cpuCost(sealed)}%. Every message is signed and verified; in the system only the payment token is
sealed (once per order), not every message. Measured alone in a tight loop: sign + verify
**${result.signMicros} µs of CPU per message**, sign + verify + seal + open ${result.microsPerMessage} µs,
against the ${perMessageUs} µs each unsigned message costs end to end here.
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const redis = await startBenchRedis();
  try {
    console.log(securityMarkdown(await benchSecurity(redis.url)));
  } finally {
    await redis.stop();
  }
}
