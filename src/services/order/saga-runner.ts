/**
 * Executes the pure saga: load the order, decide, append the events with the commands as outbox
 * in one atomic step, and on a lost optimistic-concurrency race reload and decide again. Every
 * entry point (bus replies, the user's cancel, the deadline sweeper) goes through `run`, so the
 * stream's version is the single arbiter between racing inputs.
 */
import type { AllEvents } from "../../contracts/index.js";
import type { CausalPublisher } from "../../lib/bus/context.js";
import type { PublishOptions } from "../../lib/bus/publisher.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { ConcurrencyError } from "../../lib/eventstore/index.js";
import { inStoredTrace } from "../../lib/observability/spans.js";
import type { OrderRepository } from "./repository.js";
import {
  DEFAULT_SAGA_OPTIONS,
  decide,
  type PlaceInput,
  place,
  type SagaCommand,
  type SagaDecision,
  type SagaInput,
  type SagaOptions,
  type SagaOutcome,
} from "./saga.js";
import { evolve, type OrderState } from "./state.js";

/** Something that prepares bus messages: the platform publisher, or a handler's causal context. */
export type CommandPreparer = Pick<CausalPublisher<typeof AllEvents>, "prepare">;

export type RunResult =
  | { kind: "unknown" }
  | { kind: "unchanged"; state: OrderState; decision: SagaDecision }
  | { kind: "applied"; state: OrderState; decision: SagaDecision; version: number };

export interface SagaRunnerOptions {
  repository: OrderRepository;
  saga?: Partial<SagaOptions>;
  now: () => number;
  /** Called once per saga that ended, after its terminal append succeeded. */
  onSagaEnded?: (outcome: SagaOutcome, durationMs: number, orderId: string) => void;
  /** Called after each applied decision, with the state before and after it (metrics). */
  onApplied?: (applied: AppliedDecision) => void;
  /** Called once per order moved to `compensation_failed` (alerting). */
  onCompensationFailed?: (orderId: string) => void;
  /** Immediate reload-and-retry rounds after a concurrency conflict before giving up (default 3). */
  conflictRetries?: number;
}

/** One decision applied to an order, for observers (metrics). `now` is the saga's clock, epoch ms. */
export interface AppliedDecision {
  before: OrderState;
  after: OrderState;
  input: SagaInput;
  decision: SagaDecision;
  now: number;
}

export class SagaRunner {
  readonly options: SagaOptions;
  /** Read by tests (its cache's size); the runner alone writes through it. */
  readonly repository: OrderRepository;

  constructor(private readonly runnerOptions: SagaRunnerOptions) {
    this.repository = runnerOptions.repository;
    this.options = { ...DEFAULT_SAGA_OPTIONS, ...runnerOptions.saga };
  }

  /**
   * Creates an order; the stream must not exist. Throws `ConcurrencyError` when it does (an
   * Idempotency-Key reused): the caller decides what that means; `AppendDeadlineError` (nothing
   * created) when the store's clock is past `applyBy` (epoch ms, the gateway's deadline: break35 F1).
   */
  async place(input: PlaceInput, preparer: CommandPreparer, applyBy?: number): Promise<void> {
    const now = this.runnerOptions.now();
    const decision = place(input, now, this.options);
    const outbox = prepareAll(preparer, decision.commands, { correlationId: input.correlationId });
    await this.repository.save(input.orderId, "no_stream", decision.events, outbox, now, applyBy);
  }

  /**
   * Applies one input to one order. `preparer` is used with the saga's correlation id unless it
   * carries its own (a handler's context carries on the reply's correlation and causation).
   * `applyBy` (epoch ms, the gateway's deadline of a request's input: a cancel): the append throws
   * `AppendDeadlineError`, nothing written, when the store's clock is past it (fixdl).
   */
  async run(
    orderId: string,
    input: SagaInput,
    preparer: CommandPreparer,
    causal = false,
    applyBy?: number,
  ): Promise<RunResult> {
    const retries = this.runnerOptions.conflictRetries ?? 3;
    for (let round = 0; ; round++) {
      try {
        return await this.attempt(orderId, input, preparer, causal, applyBy);
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || round >= retries) throw error;
      }
    }
  }

  private async attempt(
    orderId: string,
    input: SagaInput,
    preparer: CommandPreparer,
    causal: boolean,
    applyBy: number | undefined,
  ): Promise<RunResult> {
    // The cached state, unread: the append's expected version refuses it if another writer moved
    // the stream (the refusal brings the missed events, and the retry decides on them). One round
    // trip per step. A decision that appends nothing has no such check: it is made again on the
    // stored state when the cached one was not read.
    let loaded = await this.repository.load(orderId, { trustCache: true });
    if (!loaded) return { kind: "unknown" };
    // One clock for deadlines and history (`now`), and never earlier than the order's last event,
    // whichever instance wrote it: the expected version makes a concurrent writer reload and re-decide.
    let now = Math.max(this.runnerOptions.now(), loaded.lastRecordedAt);
    let decision = decide(loaded.state, input, now, this.options);
    if (decision.events.length === 0 && loaded.unverified) {
      loaded = await this.repository.load(orderId);
      if (!loaded) return { kind: "unknown" };
      now = Math.max(this.runnerOptions.now(), loaded.lastRecordedAt);
      decision = decide(loaded.state, input, now, this.options);
    }
    if (decision.events.length === 0) return { kind: "unchanged", state: loaded.state, decision };
    // A timer (deadline sweep) or a request (cancel) has no message to carry on from: the order's own
    // correlation id, and its trace (a request's span linked), so the compensations land in the
    // trace of the order they undo (break35 F6).
    const { correlationId, traceparent } = loaded.state;
    const outbox = causal
      ? prepareAll(preparer, decision.commands, {})
      : inStoredTrace(`order ${input.type}`, traceparent, { "ordersaga.order.id": orderId }, () =>
          prepareAll(preparer, decision.commands, { correlationId, ...(traceparent ? { traceparent } : {}) }),
        );
    const version = await this.repository.save(
      orderId,
      loaded.version,
      decision.events,
      outbox,
      now,
      applyBy,
    );
    if (decision.outcome)
      this.runnerOptions.onSagaEnded?.(decision.outcome.saga, decision.outcome.durationMs, orderId);
    if (decision.compensationFailed) this.runnerOptions.onCompensationFailed?.(orderId);
    const state = decision.events.reduce(evolve, loaded.state);
    this.runnerOptions.onApplied?.({ before: loaded.state, after: state, input, decision, now });
    return { kind: "applied", state, decision, version };
  }
}

function prepareAll(
  preparer: CommandPreparer,
  commands: readonly SagaCommand[],
  options: PublishOptions,
): OutgoingMessage[] {
  return commands.map((command) => preparer.prepare(command.event, command.payload, options).message);
}
