/**
 * The committed `.env.example` ships placeholder values (`replace-with-...`, `replace-me`) so that
 * compose's `${VAR:?}` checks pass once copied; everyone who read the repository knows them, so a
 * process in production that gets one as a secret refuses to start (break-12 F4).
 */

/** Matches the placeholders of `.env.example` (and their obvious variants). */
export const PLACEHOLDER = /replace[-_](with|me)/i;

/**
 * The names of the variables of `env` among `names` holding a placeholder (a list variable, an
 * array of strings, counts when any of its items does). Never returns values. `names` defaults to
 * every variable of `env`: a hand-kept list of "the secrets" missed one (newuser12 F1:
 * GATEWAY_SERVICE_SECRET, which a service prefers to the shared secret, passed with compose's
 * placeholder), and no variable has a reason to hold a placeholder in production.
 */
export function placeholderVariables(
  env: Readonly<Record<string, unknown>>,
  names: readonly string[] = Object.keys(env),
): string[] {
  return names.filter((name) => {
    const value = env[name];
    const values: unknown[] = Array.isArray(value) ? value : [value];
    return values.some((v) => typeof v === "string" && PLACEHOLDER.test(v));
  });
}

/** The one-line reason a process gives when `variables` hold placeholders. */
export const placeholderMessage = (variables: readonly string[]): string =>
  `refusing to start in production: ${variables.join(", ")} still hold${variables.length === 1 ? "s" : ""} ` +
  "the .env.example placeholder; set real secrets (e.g. openssl rand -hex 32)";
