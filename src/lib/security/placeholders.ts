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

/**
 * Shortest secret an operator makes and the system checks online (characters): API keys, the
 * gateway's shared secret, Redis passwords. 32 hex characters (`openssl rand -hex 16`) carry 128
 * random bits, above the 112 bits NIST SP 800-131A Rev. 2 sets as the minimum security strength and
 * OWASP ASVS 4.0.3 V2.6.2 asks of look-up secrets. Length is what can be checked; randomness is the
 * operator's part (docs/security.md says how to make one).
 */
export const MIN_SECRET_LENGTH = 32;

/** The names among `names` whose value in `env` is set but shorter than MIN_SECRET_LENGTH. Never returns values. */
export function shortSecretVariables(
  env: Readonly<Record<string, string | undefined>>,
  names: readonly string[],
): string[] {
  return names.filter((name) => {
    const value = env[name];
    return value !== undefined && value !== "" && value.length < MIN_SECRET_LENGTH;
  });
}

/** The one-line reason a process gives when `variables` hold placeholders. */
export const placeholderMessage = (variables: readonly string[]): string =>
  `refusing to start in production: ${variables.join(", ")} still hold${variables.length === 1 ? "s" : ""} ` +
  "the .env.example placeholder; set real secrets (e.g. openssl rand -hex 32)";
