/** Announcing discovery events: the plumbing the agent and the checker share. */
import type { DiscoveryLogger, DiscoveryPublish } from "./types.js";

export type Announce = (event: string, payload: Record<string, unknown>) => Promise<void>;

/** Publishes if a publisher is wired; a failing bus is logged, never allowed to stop discovery. */
export function announcer(publish: DiscoveryPublish | undefined, logger: DiscoveryLogger): Announce {
  return async (event, payload) => {
    if (!publish) return;
    try {
      await publish(event, payload);
    } catch (error) {
      logger.warn({ err: error, event }, "discovery event not published");
    }
  };
}
