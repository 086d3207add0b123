/**
 * Every Redis key service discovery touches. All share the `{discovery}` hash tag so the
 * multi-key MULTI blocks and Lua scripts stay legal on Redis Cluster.
 */

/** Hash of one instance; its PEXPIRE is the instance's TTL: `{discovery}:inst:<service>:<id>`. */
export const instanceKey = (service: string, instanceId: string): string =>
  `{discovery}:inst:${service}:${instanceId}`;

/** Set of instance ids of one service. An index only: an id whose instance key is gone is pruned. */
export const serviceIndexKey = (service: string): string => `{discovery}:svc:${service}`;

/** Set of service names that have (or recently had) instances. */
export const servicesKey = (): string => "{discovery}:services";
