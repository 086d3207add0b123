import { type DeadLetterRecord, type DeadLetterStore, deadLetterId } from "../../dlq/dead-letter-store.js";
import { capText } from "../error-text.js";
import type { AttemptFailure, DeadLetterRequest } from "../transport.js";

/**
 * Attempts kept per message (break20 F9): the first and the last ones. A must-complete message can
 * fail ~360 times in its 6 h window; what went wrong first and lately tells the story, the middle
 * repeats it. The attempt numbers of the kept ones show the gap. Stores never hold more.
 */
export const KEEP_FIRST_ATTEMPTS = 3;
export const KEEP_LAST_ATTEMPTS = 7;

/** The first `KEEP_FIRST_ATTEMPTS` and last `KEEP_LAST_ATTEMPTS` of `attempts`. */
export function boundAttempts<T>(attempts: readonly T[]): T[] {
  if (attempts.length <= KEEP_FIRST_ATTEMPTS + KEEP_LAST_ATTEMPTS) return [...attempts];
  return [...attempts.slice(0, KEEP_FIRST_ATTEMPTS), ...attempts.slice(-KEEP_LAST_ATTEMPTS)];
}

/** An attempt with its error texts capped (a transport may hold records written before the cap). */
function cappedAttempt(failure: AttemptFailure): AttemptFailure {
  const { name, message, code } = failure.error;
  return {
    ...failure,
    error: {
      name: capText(name),
      message: capText(message),
      ...(code === undefined ? {} : { code: capText(code) }),
    },
  };
}

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
    reason: capText(input.request.reason),
    attempts: boundAttempts([...input.earlierFailures, input.request.failure]).map(cappedAttempt),
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
      detail: record.reason,
    });
  }
}
