/**
 * The payment service: its definition (for the embedded runner and `main.ts`), the simulated
 * provider with its ledger adapters, and the state port with its adapters.
 */
export type { PaymentRecord, PaymentStatus } from "./domain.js";
export {
  type ChargeRequest,
  type ChargeResult,
  fingerprintToken,
  type LedgerEntry,
  MemoryProviderLedger,
  type PaymentProvider,
  ProviderError,
  type ProviderErrorCode,
  type ProviderLedger,
  type RefundRequest,
  type RefundResult,
  SimulatedPaymentProvider,
} from "./provider.js";
export { createProviderClient, PROVIDER_BREAKER, type ProviderClient } from "./provider-client.js";
export { RedisProviderLedger } from "./provider-redis-ledger.js";
export { RedisPaymentStore } from "./redis-store.js";
export { createPaymentService, type PaymentServiceOptions, paymentService } from "./service.js";
export { MemoryPaymentStore, type PaymentStore } from "./store.js";
