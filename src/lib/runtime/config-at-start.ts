import type { EventRegistry } from "../bus/events.js";
import type { ServiceDefinition } from "./service-host.js";
import { PACKAGE_VERSION } from "./version.js";

/**
 * A service definition whose environment is read when the service is created (its start), not when
 * its module is imported: a bad setting then fails inside the caller's start, which reports it in
 * one line ("could not start: ..."), instead of an uncaught ConfigError with a stack while
 * `npm start` or the demo is still importing the catalog (newuser F1).
 */
export function configReadAtStart<E extends EventRegistry>(
  name: string,
  make: () => ServiceDefinition<E>,
): ServiceDefinition<E> {
  return {
    name,
    version: PACKAGE_VERSION,
    create: (deps) => make().create(deps),
    // make() only reads the environment and builds the definition: no connection, no timer.
    checkConfig: () => void make(),
  };
}
