import { type DeadLetterRecord, type DeadLetterStore, deadLetterId } from "../../dlq/dead-letter-store.js";
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

/** What a transport knows of a delivery the subscriber gives up on. */
export interface DeadLetterInput {
  group: string;
  topic: string;
  owner: string;
  deliveryId: string;
  body: string;
  earlierFailures: readonly AttemptFailure[];
  request: DeadLetterRequest;
}

function buildDeadLetterRecord(input: DeadLetterInput): DeadLetterRecord {
  const body = input.request.body ?? input.body;
  return {
    id: deadLetterId(input.group, input.topic, input.deliveryId),
    group: input.group,
    topic: input.topic,
    owner: input.owner,
    deliveryId: input.deliveryId,
    body,
    ...peekEnvelope(body),
    reason: input.request.reason,
    attempts: [...input.earlierFailures, input.request.failure],
    deadLetteredAt: input.request.failure.at,
    status: "dead",
    retries: 0,
  };
}

/**
 * What every transport does when the subscriber gives up on a delivery: writes the record and, the
 * first time only (`add` is idempotent), its "dead-lettered" audit entry by `actor` (the consumer).
 */
export async function parkDeadLetter(
  store: DeadLetterStore,
  input: DeadLetterInput,
  actor: string,
): Promise<void> {
  const record = buildDeadLetterRecord(input);
  if (await store.add(record)) {
    await store.appendAudit({
      at: record.deadLetteredAt,
      recordId: record.id,
      action: "dead-lettered",
      actor,
      detail: input.request.reason,
    });
  }
}
