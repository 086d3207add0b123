/**
 * Newuser13 F8 over real HTTP: an instance marked `unhealthy` whose lease is current is still alive,
 * and the mark may lag its recovery (one failed health check, maybe this host's load). When no
 * healthy instance can take a request, the gateway tries the marked ones (panic routing) rather than
 * answering 503 at once; a healthy one is always preferred, and a marked one gets one trial at a time.
 */
import { describe, expect, it } from "vitest";
import { useTestGateway } from "./test-upstream.js";

const harness = useTestGateway();

const hangs = () => ({ status: 200, hang: true });

const servedBy = async (res: Response) => ((await res.json()) as { servedBy: string }).servedBy;

describe("panic routing: instances marked unhealthy when none healthy can serve", () => {
  it("serves a GET from the only instance while it is marked unhealthy, and leaves the mark to the checker", async () => {
    const gw = await harness.start();
    await harness.upstream("inventory", "inv-only");
    await gw.registry.setHealth("inventory", "inv-only", "unhealthy", 1);
    // It was 503 SERVICE_UNAVAILABLE "No healthy instance ..." until the next health check passed.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/inventory/p-${i}`);
      expect(res.status).toBe(200);
      expect(await servedBy(res)).toBe("inv-only");
    }
    expect((await gw.registry.get("inventory", "inv-only"))?.status).toBe("unhealthy");
  });

  it("uses only the healthy instance while another is marked unhealthy", async () => {
    const gw = await harness.start();
    const healthy = await harness.upstream("inventory", "inv-a");
    const marked = await harness.upstream("inventory", "inv-b");
    await gw.registry.setHealth("inventory", "inv-b", "unhealthy", 1);
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gw.url}/inventory/p-${i}`);
      expect(res.status).toBe(200);
      expect(await servedBy(res)).toBe("inv-a");
    }
    expect(healthy.hits).toHaveLength(6);
    expect(marked.hits).toHaveLength(0);
  });

  it("sends a request the healthy instance refused to a marked one", async () => {
    const gw = await harness.start();
    const dead = await harness.upstream("inventory", "inv-a-dead");
    await harness.upstream("inventory", "inv-b-marked");
    await gw.registry.setHealth("inventory", "inv-b-marked", "unhealthy", 1);
    await dead.close();
    const res = await fetch(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(200);
    expect(await servedBy(res)).toBe("inv-b-marked");
  });

  it("resends a GET that timed out on the healthy instance to a marked one within the budget", async () => {
    const gw = await harness.start({ upstreamTimeoutMs: 3_000 });
    // Sorted by id, the frozen healthy one is first in turn.
    await harness.upstream("inventory", "inv-a-frozen", hangs);
    await harness.upstream("inventory", "inv-b-marked");
    await gw.registry.setHealth("inventory", "inv-b-marked", "unhealthy", 1);
    const res = await fetch(`${gw.url}/inventory/p-1`, { signal: AbortSignal.timeout(20_000) });
    // The frozen one had the whole budget and the request ended 504, the marked one never asked.
    expect(res.status).toBe(200);
    expect(await servedBy(res)).toBe("inv-b-marked");
  }, 30_000);

  it("sends one request at a time to a marked instance that hangs: the others get 503 at once", async () => {
    const gw = await harness.start({ upstreamTimeoutMs: 1_500 });
    const only = await harness.upstream("inventory", "inv-frozen", hangs);
    await gw.registry.setHealth("inventory", "inv-frozen", "unhealthy", 1);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`${gw.url}/inventory/p-1`).then((res) => res.status)),
    );
    expect(answers.filter((status) => status === 504)).toHaveLength(1);
    expect(answers.filter((status) => status === 503)).toHaveLength(9);
    expect(only.hits).toHaveLength(1);
  }, 30_000);

  it("serves concurrent requests from a marked instance once a trial of it answered, not one at a time", async () => {
    const gw = await harness.start();
    const only = await harness.upstream("inventory", "inv-only");
    await gw.registry.setHealth("inventory", "inv-only", "unhealthy", 1);
    // The forced trial answers: the instance serves, whatever its mark says.
    expect((await fetch(`${gw.url}/inventory/p-0`)).status).toBe(200);
    // Before, while the mark lasted, 9 of these 10 got 503 (one forced trial at a time).
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(`${gw.url}/inventory/p-${i + 1}`).then((res) => res.status)),
    );
    expect(answers).toEqual(Array(10).fill(200));
    expect(only.hits).toHaveLength(11);
  }, 30_000);
});
