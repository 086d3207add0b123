/**
 * A Redis URL as it may be shown: in a banner, a log line, an error message or stdout. REDIS_URL may
 * carry the password (`redis://ops:<password>@host:6379`), which is a secret (newuser14 F1: the
 * launcher masked it, the demo and trace printed it in clear).
 */

/**
 * `url` with its password shown as `***` (`redis://ops:***@localhost:6392/3`); the user name, host,
 * port and database stay, so the message still says which Redis. A URL without a password is
 * returned as given. A `password` query parameter (which ioredis also reads) is masked too. One
 * that does not parse is masked the same way by its text (anything between `user:` and `@` after
 * the scheme, and the query's `password=` value), so no spelling leaks the password.
 */
export function redactRedisUrl(url: string): string {
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    // ioredis also takes the password as a query parameter (`?password=`: break30 F4).
    const inQuery = [...parsed.searchParams.keys()].filter((name) => name.toLowerCase() === "password");
    if (!parsed.password && inQuery.length === 0) return url;
    if (parsed.password) parsed.password = "***";
    for (const name of inQuery) parsed.searchParams.set(name, "***");
    return parsed.toString();
  }
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@]*@/i, "$1***@")
    .replace(/([?&]password=)[^&#]*/gi, "$1***");
}
