import type { z } from "zod";
import { UnknownEventError, ValidationError } from "./errors.js";

/** What an owning service writes for each of its events. */
export interface EventSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  description: string;
  /** Schema version; bump when the payload changes incompatibly. Defaults to 1. */
  version?: number;
  /**
   * True for a record of the owner's own event store (an entity's history), which is never
   * published: catalogs list it apart and AsyncAPI has no channel for it. Default false.
   */
  historyRecord?: boolean;
}

/** A registered event: its name, its owning service, its schema. */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly owner: string;
  readonly description: string;
  readonly version: number;
  readonly schema: S;
  /** A record of the owner's event store, never on the bus (see EventSpec.historyRecord). */
  readonly historyRecord: boolean;
}

/** A set of event definitions keyed by event name: what `Publisher` and `Subscriber` are typed by. */
export type EventRegistry = { readonly [name: string]: EventDefinition };

export type EventName<E extends EventRegistry> = keyof E & string;
/** The payload a handler receives (after parsing and defaults). */
export type EventPayload<E extends EventRegistry, N extends EventName<E>> = z.output<E[N]["schema"]>;
/** The payload a publisher may pass (before defaults are applied). */
export type EventInput<E extends EventRegistry, N extends EventName<E>> = z.input<E[N]["schema"]>;

type DefinitionsOf<S extends Record<string, EventSpec>> = {
  readonly [K in keyof S & string]: EventDefinition<S[K]["schema"]>;
};

/**
 * Defines the events one service owns. Types are inferred from the schemas:
 *
 *   export const UserEvents = defineEvents("user", {
 *     "user.created": { schema: z.object({ userId: z.string() }), description: "New user registered" },
 *   });
 */
export function defineEvents<const S extends Record<string, EventSpec>>(
  owner: string,
  specs: S,
): DefinitionsOf<S> {
  const out: Record<string, EventDefinition> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = Object.freeze({
      name,
      owner,
      description: spec.description,
      version: spec.version ?? 1,
      schema: spec.schema,
      // Made a boolean here, once: every reader (catalogs, AsyncAPI) takes it as it is.
      historyRecord: spec.historyRecord === true,
    });
  }
  return Object.freeze(out) as DefinitionsOf<S>;
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void
  ? I
  : never;

/** Joins several services' registries into one; a name defined twice is a programming error. */
export function combineRegistries<const R extends readonly EventRegistry[]>(
  ...registries: R
): UnionToIntersection<R[number]> {
  const out: Record<string, EventDefinition> = {};
  for (const registry of registries) {
    for (const [name, def] of Object.entries(registry)) {
      if (out[name] && out[name] !== def) throw new Error(`Event "${name}" is defined twice`);
      out[name] = def;
    }
  }
  return Object.freeze(out) as UnionToIntersection<R[number]>;
}

export function getDefinition(registry: EventRegistry, name: string): EventDefinition {
  const def = Object.hasOwn(registry, name) ? registry[name] : undefined;
  if (!def) throw new UnknownEventError(name);
  return def;
}

/** Validates a payload against its event's schema; returns the parsed value or throws ValidationError. */
export function parsePayload(registry: EventRegistry, name: string, payload: unknown): unknown {
  const result = getDefinition(registry, name).schema.safeParse(payload);
  if (!result.success) {
    throw new ValidationError(
      name,
      result.error.issues.map((issue) => ({
        path: issue.path.map(String).join("."),
        message: issue.message,
      })),
    );
  }
  return result.data;
}

/** Self-description of a registry, for docs, the README catalog and an AsyncAPI document. */
export function describeRegistry(
  registry: EventRegistry,
): { name: string; owner: string; version: number; description: string; historyRecord: boolean }[] {
  return Object.values(registry)
    .map(({ name, owner, version, description, historyRecord }) => ({
      name,
      owner,
      version,
      description,
      historyRecord,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
