/**
 * The payment provider as the service calls it: every call under a time budget and through a
 * circuit breaker. A declined card is an answer from a healthy provider, so it does not count
 * towards opening the circuit.
 */
import { CircuitBreaker, type CircuitStateChange, withTimeout } from "../../lib/resilience/index.js";
import {
  type ChargeRequest,
  type ChargeResult,
  isDecline,
  type PaymentProvider,
  type RefundRequest,
  type RefundResult,
} from "./provider.js";

export interface ProviderClientOptions {
  provider: PaymentProvider;
  /** Per-call time budget (default 2 s). */
  timeoutMs?: number;
  /** Consecutive failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before a trial call (default 30 s). */
  openMs?: number;
  now?: () => number;
  onStateChange?: (change: CircuitStateChange) => void;
}

export interface ProviderClient {
  readonly breaker: CircuitBreaker;
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<RefundResult>;
}

export const PROVIDER_BREAKER = "payment-provider";

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const breaker = new CircuitBreaker({
    name: PROVIDER_BREAKER,
    failureThreshold: options.failureThreshold ?? 5,
    successThreshold: 1,
    timeout: options.openMs ?? 30_000,
    isFailure: (error) => !isDecline(error),
    ...(options.now ? { now: options.now } : {}),
    ...(options.onStateChange ? { onStateChange: options.onStateChange } : {}),
  });
  const { provider } = options;
  return {
    breaker,
    charge: (request) =>
      breaker.execute(() => withTimeout((signal) => provider.charge(request, signal), timeoutMs)),
    refund: (request) =>
      breaker.execute(() => withTimeout((signal) => provider.refund(request, signal), timeoutMs)),
  };
}
