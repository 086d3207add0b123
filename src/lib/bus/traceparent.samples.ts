/** Traceparent values every reader must agree on (tests only): one valid, the rest refused. */
export const VALID_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/** Refused by the W3C rules for version 00, each for one reason. */
export const INVALID_TRACEPARENTS: Record<string, string> = {
  "all-zero trace id": "00-00000000000000000000000000000000-b7ad6b7169203331-01",
  "all-zero parent id": "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
  "uppercase hex": VALID_TRACEPARENT.toUpperCase(),
  "version ff": "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "another version": "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "a trailing field": `${VALID_TRACEPARENT}-extra`,
  "a leading space": ` ${VALID_TRACEPARENT}`,
  "a short parent id": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
};
