/**
 * Command-line options of the project's entry points (`npm run start:services`, `npm run demo`):
 * one table per command gives each option's type and help, `--help` prints the table, and a
 * mistake is one line naming the valid options (node's parseArgs throws with a stack otherwise).
 */
import { parseArgs } from "node:util";

/** One option: its parseArgs type, and what `--help` prints for it. */
export interface CliOption {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in the usage text (`<url>`); none for a flag. */
  readonly value?: string;
  readonly help: string;
}

/** The usage rows of `options`, the option column `width` characters wide. */
export function usageRows(options: Readonly<Record<string, CliOption>>, width: number): string[] {
  return Object.entries(options).map(([name, option]) => {
    const left = `--${name}${option.value === undefined ? "" : ` ${option.value}`}`;
    return `  ${left.padEnd(width)} ${option.help}`;
  });
}

/**
 * Parses `argv` (without node and the script) against `options`; positionals are refused.
 * @throws what `fail` makes of a one-line message: an unknown option, an option without its value,
 *   an unexpected argument, or any other parseArgs refusal.
 */
export function parseCliOptions(
  argv: readonly string[],
  options: Readonly<Record<string, CliOption>>,
  fail: (message: string) => Error,
): Record<string, unknown> {
  const names = Object.keys(options)
    .map((name) => `--${name}`)
    .join(", ");
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(options).map(([name, { type, multiple, short }]) => [
          name,
          {
            type,
            ...(multiple === undefined ? {} : { multiple }),
            ...(short === undefined ? {} : { short }),
          },
        ]),
      ),
      allowPositionals: true,
    });
  } catch (error) {
    const text = (error as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(text);
    if (unknown) throw fail(`unknown option "${unknown[1]}" (options: ${names})`);
    // "argument missing" at the end, "argument is ambiguous" before another option (--gateway --help).
    const missing = /Option '(--[a-z-]+)[^']*' argument (missing|is ambiguous)/.exec(text);
    if (missing) {
      // A negative number reads as an option to parseArgs: say so (newuser16 F6: `--timeout -5`
      // answered "needs a value", which the user had given).
      const next = argv[argv.indexOf(missing[1]!) + 1];
      const hint =
        next !== undefined && /^-\d/.test(next)
          ? ` ("${next}" reads as an option: write ${missing[1]}=${next})`
          : "";
      throw fail(`${missing[1]} needs a value${hint}`);
    }
    throw fail(text.split("\n")[0]!);
  }
  if (parsed.positionals.length > 0)
    throw fail(`unexpected argument "${parsed.positionals[0]}" (options: ${names})`);
  return parsed.values;
}
