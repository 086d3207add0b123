import { type DeadLetterRecord, deadLetterId } from "../../dlq/dead-letter-store.js";
import type { AttemptFailure, DeadLetterRequest } from "../transport.js";

/** Best-effort metadata from a body that may be malformed (that can be why it is dead). */
function peekEnvelope(body: string): { envelopeId?: string; event?: string; sourceService?: string } {
  try {
    const raw = JSON.parse(body) as { id?: unknown; event?: unknown; source?: { service?: unknown } };
    return {
      ...(typeof raw.id === "string" ? { envelopeId: raw.id } : {}),
      ...(typeof raw.event === "string" ? { event: raw.event } : {}),
      ...(typeof raw.source?.service === "string" ? { sourceService: raw.source.service } : {}),
    };
  } catch {
    return {};
  }
}

/** The record every transport writes when the subscriber gives up on a delivery. */
export function buildDeadLetterRecord(input: {
  group: string;
  topic: string;
  owner: string;
  deliveryId: string;
  body: string;
  earlierFailures: readonly AttemptFailure[];
  request: DeadLetterRequest;
}): DeadLetterRecord {
  return {
    id: deadLetterId(input.group, input.topic, input.deliveryId),
    group: input.group,
    topic: input.topic,
    owner: input.owner,
    deliveryId: input.deliveryId,
    body: input.body,
    ...peekEnvelope(input.body),
    reason: input.request.reason,
    attempts: [...input.earlierFailures, input.request.failure],
    deadLetteredAt: input.request.failure.at,
    status: "dead",
    retries: 0,
  };
}
