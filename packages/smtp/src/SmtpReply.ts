/**
 * SMTP / LMTP server replies (RFC 5321 §4.2, RFC 2033 §4.2): the three-digit code, its severity
 * class, the RFC 3463 enhanced status code when the server sends one (RFC 2034), and the text
 * lines.
 *
 * Everything in a reply is server-controlled text: nothing here decides anything from the text,
 * and `format` escapes control characters before the text reaches a log. Replies received before
 * TLS are never to be trusted after it (S10); that is the client's rule, not this module's.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import { enhancedLength, fromWire, severities } from "./internal/reply.ts"

/**
 * RFC 5321 §4.2.1, by the first digit of the code: 2yz, 3yz, 4yz, 5yz. (1yz, "positive
 * preliminary", is not used by SMTP; the parser rejects it.)
 *
 * @category models
 * @since 0.1.0
 */
export type Severity = "PositiveCompletion" | "PositiveIntermediate" | "TransientNegative" | "PermanentNegative"

/**
 * An RFC 3463 enhanced status code `class.subject.detail`, e.g. `5.1.1` (bad destination mailbox).
 * `class` always equals the first digit of the reply code.
 *
 * @category models
 * @since 0.1.0
 */
export interface EnhancedStatusCode {
  readonly class: 2 | 4 | 5
  readonly subject: number
  readonly detail: number
}

/**
 * One reply. `lines` holds the text of each line after the code and its separator, with the
 * enhanced status code removed from every line that starts with it; there is always at least one
 * line (possibly empty). Text is decoded as UTF-8 (SMTPUTF8 servers, RFC 6531 §3.7.4); invalid
 * UTF-8 becomes U+FFFD. The text is untrusted.
 *
 * @category models
 * @since 0.1.0
 */
export interface SmtpReply {
  /** The reply code, 200-599. */
  readonly code: number
  readonly severity: Severity
  /** Present only when the first line starts with a well-formed code of the reply's class. */
  readonly enhanced: EnhancedStatusCode | undefined
  readonly lines: ReadonlyArray<string>
}

/**
 * The severity of a reply code, or `undefined` outside 200-599.
 *
 * @category constructors
 * @since 0.1.0
 */
export const severityOf = (code: number): Severity | undefined =>
  Number.isInteger(code) && code >= 200 && code <= 599 ? severities[(code / 100) | 0] : undefined

const fail = (field: string, detail: string) => Result.fail(new CodecError.EncodeError({ field, detail }))

const LONE_SURROGATE = /\p{Surrogate}/u
const FORBIDDEN = /[\r\n\0]/

const checkLines = (lines: ReadonlyArray<string>): CodecError.EncodeError | undefined => {
  if (lines.length === 0) return new CodecError.EncodeError({ field: "lines", detail: "a reply has at least one line" })
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (FORBIDDEN.test(line)) {
      return new CodecError.EncodeError({ field: `lines[${i}]`, detail: "contains CR, LF or NUL" })
    }
    if (LONE_SURROGATE.test(line)) {
      return new CodecError.EncodeError({ field: `lines[${i}]`, detail: "is not well-formed UTF-16" })
    }
  }
  return undefined
}

const checkEnhanced = (code: number, enhanced: EnhancedStatusCode): CodecError.EncodeError | undefined => {
  const digit = (code / 100) | 0
  if (enhanced.class !== digit) {
    return new CodecError.EncodeError({
      field: "enhanced",
      detail: `class ${enhanced.class} does not match reply code ${code} (RFC 3463 §2)`
    })
  }
  const inRange = (n: number) => Number.isInteger(n) && n >= 0 && n <= 999
  if (!inRange(enhanced.subject) || !inRange(enhanced.detail)) {
    return new CodecError.EncodeError({ field: "enhanced", detail: "subject and detail must be 0-999" })
  }
  return undefined
}

/**
 * Builds a reply. Without `enhanced`, the lines are read as a server's would be: an enhanced
 * status code at the start of the first line is recognised and removed (as the parser does). With
 * `enhanced`, the lines are the text without it. Fails on a code outside 200-599, no lines, a
 * line with CR, LF or NUL, or an enhanced code whose class differs from the code's first digit
 * (3yz replies carry none).
 *
 * @example
 * ```ts
 * import * as SmtpReply from "@starttls/smtp/SmtpReply"
 *
 * SmtpReply.make(550, ["5.1.1 User unknown"])
 * // Success({ code: 550, severity: "PermanentNegative", enhanced: { class: 5, subject: 1, detail: 1 },
 * //           lines: ["User unknown"] })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  code: number,
  lines: ReadonlyArray<string>,
  enhanced?: EnhancedStatusCode
): Result.Result<SmtpReply, CodecError.EncodeError> => {
  const severity = severityOf(code)
  if (severity === undefined) return fail("code", `${code} is not a reply code (200-599)`)
  const bad = checkLines(lines) ?? (enhanced === undefined ? undefined : checkEnhanced(code, enhanced))
  if (bad !== undefined) return Result.fail(bad)
  if (enhanced === undefined) return Result.succeed(fromWire(code, [...lines]))
  return Result.succeed({ code, severity, enhanced, lines: [...lines] })
}

/**
 * `class.subject.detail`, e.g. `"5.1.1"`.
 *
 * @category encoding
 * @since 0.1.0
 */
export const formatEnhanced = (enhanced: EnhancedStatusCode): string =>
  `${enhanced.class}.${enhanced.subject}.${enhanced.detail}`

/**
 * The wire form of a reply (for test servers): every line `code-text` or, for the last, `code SP
 * text` (`code` alone when the text is empty, RFC 5321 §4.2), with the enhanced status code in
 * front of every line's text (RFC 2034 §4). Validates like `make`, and checks that `severity`
 * matches the code. Parsing the result gives the reply back when the reply came from `make` or
 * from the parser.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (reply: SmtpReply): Result.Result<Uint8Array, CodecError.EncodeError> => {
  const severity = severityOf(reply.code)
  if (severity === undefined) return fail("code", `${reply.code} is not a reply code (200-599)`)
  if (severity !== reply.severity) return fail("severity", `${reply.severity} does not match code ${reply.code}`)
  const bad = checkLines(reply.lines) ?? (reply.enhanced === undefined ? undefined : checkEnhanced(reply.code, reply.enhanced))
  if (bad !== undefined) return Result.fail(bad)
  const prefix = reply.enhanced === undefined ? "" : formatEnhanced(reply.enhanced)
  let out = ""
  const last = reply.lines.length - 1
  for (let i = 0; i <= last; i++) {
    const line = reply.lines[i]!
    const text = prefix === "" ? line : line === "" ? prefix : `${prefix} ${line}`
    out += `${reply.code}${i === last ? (text === "" ? "" : " ") : "-"}${text}\r\n`
  }
  return Result.succeed(new Uint8Array(Buffer.from(out, "utf8")))
}

/**
 * 2yz: the command succeeded.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPositiveCompletion = (reply: SmtpReply): boolean => reply.severity === "PositiveCompletion"

/**
 * 3yz: the server waits for more (354 after DATA, 334 during AUTH).
 *
 * @category guards
 * @since 0.1.0
 */
export const isIntermediate = (reply: SmtpReply): boolean => reply.severity === "PositiveIntermediate"

/**
 * 2yz or 3yz.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPositive = (reply: SmtpReply): boolean => reply.code < 400

/**
 * 4yz: a temporary failure; the same command may succeed later (RFC 5321 §4.2.1).
 *
 * @category guards
 * @since 0.1.0
 */
export const isTransient = (reply: SmtpReply): boolean => reply.severity === "TransientNegative"

/**
 * 5yz: a permanent failure; repeating the command unchanged will fail again.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPermanent = (reply: SmtpReply): boolean => reply.severity === "PermanentNegative"

/**
 * The text of all lines joined with LF (untrusted server text).
 *
 * @category decoding
 * @since 0.1.0
 */
export const text = (reply: SmtpReply): string => reply.lines.join("\n")

const HEX = "0123456789abcdef"
const CONTROL = /[\x00-\x1f\x7f]/g
const escapeControl = (s: string): string =>
  s.replace(CONTROL, (c) => {
    const b = c.charCodeAt(0)
    return "\\x" + HEX[b >> 4] + HEX[b & 15]
  })

/**
 * One printable line for logs and error messages: `550 5.1.1 User unknown`, lines joined with
 * ` | `, control characters escaped as `\xNN` (server text must not forge log lines).
 *
 * @category encoding
 * @since 0.1.0
 */
export const format = (reply: SmtpReply): string => {
  const head = reply.enhanced === undefined ? `${reply.code}` : `${reply.code} ${formatEnhanced(reply.enhanced)}`
  const body = escapeControl(reply.lines.join(" | "))
  return body === "" ? head : `${head} ${body}`
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * The decoded challenge of a `334` reply during AUTH (RFC 4954 §4: the text is base64; an empty
 * text is an empty challenge). Fails when the reply is not a 334 or the text is not base64.
 *
 * @category decoding
 * @since 0.1.0
 */
export const challenge = (reply: SmtpReply): Result.Result<Uint8Array, CodecError.MalformedInput> => {
  const data = reply.lines.join("").trim()
  if (reply.code !== 334) {
    return Result.fail(
      new CodecError.MalformedInput({
        grammar: "auth challenge",
        detail: `expected a 334 reply, got ${reply.code}`,
        preview: CodecError.preview(Buffer.from(data, "utf8"))
      })
    )
  }
  if (!BASE64.test(data)) {
    return Result.fail(
      new CodecError.MalformedInput({
        grammar: "auth challenge",
        detail: "challenge is not base64 (RFC 4954 §4)",
        preview: CodecError.preview(Buffer.from(data, "utf8"))
      })
    )
  }
  return Result.succeed(new Uint8Array(Buffer.from(data, "base64")))
}

/**
 * Whether the first line of `text` starts with a well-formed enhanced status code whose class is
 * `digit` (2, 4 or 5), as the parser checks it.
 *
 * @category guards
 * @since 0.1.0
 */
export const startsWithEnhanced = (text: string, digit: number): boolean =>
  (digit === 2 || digit === 4 || digit === 5) && enhancedLength(text, digit) > 0
