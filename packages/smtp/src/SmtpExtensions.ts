/**
 * The service extensions a server announces in its EHLO (or LMTP LHLO) reply (RFC 5321 §4.1.1.1):
 * `ehlo-ok-rsp = "250" SP Domain [ SP ehlo-greet ] CRLF` or the multi-line form whose later lines
 * are `ehlo-line = ehlo-keyword *( SP ehlo-param )`.
 *
 * `parseEhlo` is total: a line that is not an `ehlo-line` is skipped, never an error (the server's
 * text is untrusted and the client only acts on keywords it knows). Keywords are case-insensitive
 * and stored in upper case. Only call it on a 250 reply, and only trust the result when the reply
 * arrived over TLS (S4: after STARTTLS the client discards what it learnt and sends EHLO again).
 *
 * @since 0.1.0
 */
import type * as SmtpReply from "./SmtpReply.ts"

/**
 * What an EHLO reply announced.
 *
 * @category models
 * @since 0.1.0
 */
export interface SmtpExtensions {
  /** The server's name from the first line (untrusted). */
  readonly domain: string
  /** The rest of the first line (untrusted free text). */
  readonly greeting: string
  /** Every keyword announced, upper case. */
  readonly keywords: ReadonlySet<string>
  /** STARTTLS (RFC 3207). */
  readonly startTls: boolean
  /** SASL mechanisms, upper case, from `AUTH ...` and the legacy `AUTH=...` lines (RFC 4954 §3). */
  readonly auth: ReadonlyArray<string>
  /** SIZE limit in octets (RFC 1870 §4); `undefined` when none is declared (`SIZE`, `SIZE 0`, absent). */
  readonly size: number | undefined
  /** PIPELINING (RFC 2920). */
  readonly pipelining: boolean
  /** 8BITMIME (RFC 6152). */
  readonly eightBitMime: boolean
  /** BINARYMIME (RFC 3030). */
  readonly binaryMime: boolean
  /** SMTPUTF8 (RFC 6531). */
  readonly smtpUtf8: boolean
  /** DSN (RFC 3461). */
  readonly dsn: boolean
  /** CHUNKING, i.e. BDAT (RFC 3030). */
  readonly chunking: boolean
  /** ENHANCEDSTATUSCODES (RFC 2034). */
  readonly enhancedStatusCodes: boolean
  /** REQUIRETLS (RFC 8689). */
  readonly requireTls: boolean
  /** Every other keyword with its parameters as sent (space-separated, possibly empty). */
  readonly unknown: ReadonlyMap<string, string>
}

// RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/
// RFC 4422 §3.1 mechanism names.
const MECHANISM = /^[A-Z0-9_-]{1,20}$/
const SPACES = / +/

const KNOWN: ReadonlySet<string> = new Set([
  "STARTTLS",
  "AUTH",
  "SIZE",
  "PIPELINING",
  "8BITMIME",
  "BINARYMIME",
  "SMTPUTF8",
  "DSN",
  "CHUNKING",
  "ENHANCEDSTATUSCODES",
  "REQUIRETLS"
])

/**
 * Reads an EHLO / LHLO reply.
 *
 * @example
 * ```ts
 * import * as SmtpExtensions from "@starttls/smtp/SmtpExtensions"
 * import * as SmtpReply from "@starttls/smtp/SmtpReply"
 * import * as Result from "effect/Result"
 *
 * const reply = Result.getOrThrow(SmtpReply.make(250, ["mx.example.com hi", "SIZE 1000", "AUTH PLAIN LOGIN"]))
 * const ext = SmtpExtensions.parseEhlo(reply)
 * ext.size // 1000
 * ext.auth // ["PLAIN", "LOGIN"]
 * ```
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseEhlo = (reply: SmtpReply.SmtpReply): SmtpExtensions => {
  const first = (reply.lines[0] ?? "").trim()
  const space = first.indexOf(" ")
  const domain = space === -1 ? first : first.slice(0, space)
  const greeting = space === -1 ? "" : first.slice(space + 1).trim()
  const keywords = new Set<string>()
  const auth: Array<string> = []
  const unknown = new Map<string, string>()
  let size: number | undefined
  for (let i = 1; i < reply.lines.length; i++) {
    const words = reply.lines[i]!.trim().split(SPACES)
    let keyword = words[0]!
    const params = words.slice(1)
    // The legacy "AUTH=PLAIN LOGIN" form (RFC 4954 §3 notes servers that sent it): split at "=".
    const equals = keyword.indexOf("=")
    if (equals > 0) {
      params.unshift(keyword.slice(equals + 1))
      keyword = keyword.slice(0, equals)
    }
    if (!KEYWORD.test(keyword)) continue
    keyword = keyword.toUpperCase()
    keywords.add(keyword)
    if (keyword === "AUTH") {
      for (const p of params) {
        const mechanism = p.toUpperCase()
        if (MECHANISM.test(mechanism) && !auth.includes(mechanism)) auth.push(mechanism)
      }
    } else if (keyword === "SIZE") {
      // RFC 1870 §4: SIZE without a number, or 0, declares no fixed maximum.
      const value = params[0]
      if (value !== undefined && /^[0-9]{1,20}$/.test(value) && Number(value) > 0) size = Number(value)
    } else if (!KNOWN.has(keyword)) {
      unknown.set(keyword, params.filter((p) => p !== "").join(" "))
    }
  }
  return {
    domain,
    greeting,
    keywords,
    startTls: keywords.has("STARTTLS"),
    auth,
    size,
    pipelining: keywords.has("PIPELINING"),
    eightBitMime: keywords.has("8BITMIME"),
    binaryMime: keywords.has("BINARYMIME"),
    smtpUtf8: keywords.has("SMTPUTF8"),
    dsn: keywords.has("DSN"),
    chunking: keywords.has("CHUNKING"),
    enhancedStatusCodes: keywords.has("ENHANCEDSTATUSCODES"),
    requireTls: keywords.has("REQUIRETLS"),
    unknown
  }
}

/**
 * Whether the server announced `keyword` (case-insensitive).
 *
 * @category guards
 * @since 0.1.0
 */
export const has = (extensions: SmtpExtensions, keyword: string): boolean =>
  extensions.keywords.has(keyword.toUpperCase())

/**
 * The parameters announced with `keyword` (case-insensitive) when it is not one of the typed
 * fields, else `undefined`.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parameters = (extensions: SmtpExtensions, keyword: string): string | undefined =>
  extensions.unknown.get(keyword.toUpperCase())
