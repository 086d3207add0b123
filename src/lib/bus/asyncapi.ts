import { z } from "zod";
import type { EventRegistry } from "./events.js";

/**
 * An AsyncAPI 3.0 document of a registry: one channel per event on the bus, its payload's JSON
 * Schema generated from the same Zod schema the bus validates with, and who publishes it. History
 * records (`historyRecord`) have no channel: they are never published.
 */
export function toAsyncApi(
  registry: EventRegistry,
  info: { title: string; version: string },
): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const published = Object.values(registry).filter((def) => !def.historyRecord);
  for (const def of published.sort((a, b) => a.name.localeCompare(b.name))) {
    const id = def.name.replace(/[^A-Za-z0-9]/g, "_");
    channels[id] = {
      address: def.name,
      description: def.description,
      messages: {
        [id]: {
          name: def.name,
          summary: def.description,
          contentType: "application/json",
          "x-owner": def.owner,
          "x-schema-version": def.version,
          payload: z.toJSONSchema(def.schema, { io: "input", unrepresentable: "any" }),
        },
      },
    };
    operations[`publish_${id}`] = {
      action: "send",
      channel: { $ref: `#/channels/${id}` },
      summary: `${def.owner} publishes ${def.name}`,
    };
  }
  return { asyncapi: "3.0.0", info, defaultContentType: "application/json", channels, operations };
}
