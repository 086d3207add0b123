/**
 * `npm start` and SERVICE_PORT (newuser11 F1): one process runs all six services, and one port
 * variable cannot place six listeners, so they always take free ports (printed in the banner).
 * SERVICE_PORT is read only to be checked as every process checks it: a bad value is refused in one
 * line, and a port number is named as unused instead of being silently ignored.
 */
import { parseEnv, serviceEnvSchema } from "../lib/runtime/config.js";

const servicePortSchema = serviceEnvSchema.pick({ SERVICE_PORT: true });

/**
 * The warning for a SERVICE_PORT that `npm start` does not use, or undefined (unset, or 0: what it
 * does anyway). Throws the ConfigError of any process for a value that is not a port.
 */
export function embeddedServicePortNote(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { SERVICE_PORT: port } = parseEnv(servicePortSchema, env);
  if (port === undefined || port === 0) return undefined;
  return (
    `SERVICE_PORT=${port} is not used by npm start: its six services run in one process, each on ` +
    "a free port printed at start (GATEWAY_PORT sets the gateway's); fixed service ports: " +
    "npm run start:services"
  );
}
