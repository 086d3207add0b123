/**
 * The text of a JSON request body, decoded strictly (break13 F3, F4): Fastify's `parseAs: "string"`
 * decodes bytes lossily (an invalid UTF-8 sequence became U+FFFD and was stored so) and ignores both
 * a declared charset and a `Content-Encoding`. Here a body is UTF-8 or it is refused, so nothing is
 * stored that the client did not send.
 */
import type { IncomingHttpHeaders } from "node:http";
import { AppError } from "./errors.js";

/** Throws on the first invalid sequence instead of substituting U+FFFD; keeps a leading BOM out. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The charset parameter of a Content-Type value, lower-cased and unquoted; undefined when absent.
 */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  for (const parameter of contentType.split(";").slice(1)) {
    const at = parameter.indexOf("=");
    if (at < 0 || parameter.slice(0, at).trim().toLowerCase() !== "charset") continue;
    return parameter
      .slice(at + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
  }
  return undefined;
}

/** Whether `label` names UTF-8 (any WHATWG label of it: `utf-8`, `utf8`, `unicode-1-1-utf-8`...). */
function isUtf8Label(label: string): boolean {
  try {
    return new TextDecoder(label).encoding === "utf-8";
  } catch {
    return false; // not a known encoding label
  }
}

/**
 * Decodes a JSON body. Errors (AppError): 415 UNSUPPORTED_CONTENT_ENCODING for a `Content-Encoding`
 * other than `identity` (RFC 9110 §15.5.16: compressed bodies are not accepted); 415
 * UNSUPPORTED_MEDIA_TYPE for a charset other than UTF-8 (RFC 8259 §8.1: JSON exchanged between
 * systems is UTF-8); 400 MALFORMED_JSON for bytes that are not valid UTF-8.
 */
export function decodeJsonBody(headers: IncomingHttpHeaders, body: Buffer | string): string {
  const encoding = headers["content-encoding"];
  const codings = (encoding ?? "")
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  if (codings.length > 0) {
    throw new AppError(
      "UNSUPPORTED_CONTENT_ENCODING",
      `Content-Encoding "${codings.join(", ").slice(0, 40)}" is not supported: send the JSON uncompressed`,
    );
  }
  const charset = charsetOf(headers["content-type"]);
  if (charset !== undefined && !isUtf8Label(charset)) {
    throw new AppError(
      "UNSUPPORTED_MEDIA_TYPE",
      `Charset "${charset.slice(0, 40)}" is not supported: send the JSON as UTF-8 (charset=utf-8 or none)`,
    );
  }
  if (typeof body === "string") return body;
  try {
    return utf8.decode(body);
  } catch {
    throw new AppError("MALFORMED_JSON", "The body is not valid UTF-8: send the JSON as UTF-8");
  }
}
