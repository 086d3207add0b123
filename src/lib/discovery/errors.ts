/** Typed errors of service discovery, with stable string codes. */
export type DiscoveryErrorCode = "INVALID_INSTANCE" | "INVALID_TTL" | "REGISTRY_UNAVAILABLE";

export class DiscoveryError extends Error {
  readonly code: DiscoveryErrorCode;
  readonly retryable: boolean;

  constructor(
    code: DiscoveryErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DiscoveryError";
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}
