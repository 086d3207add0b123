/**
 * Headers the gateway sets for the services behind it. Clients cannot set them: the gateway
 * forwards only the client headers it lists, then adds these.
 */

/**
 * Who called, as the gateway authenticated them: `api-key:<first 8 hex of the key's SHA-256>` when
 * API keys are configured, else `anonymous` (every caller is one client). Scopes Idempotency-Keys.
 */
export const CLIENT_HEADER = "x-ordersaga-client";
