/**
 * Pure, incremental parser of SMTP (RFC 5321 §4.2) and LMTP (RFC 2033) server replies.
 *
 * `makeReplyParser(options).push(chunk)` returns every reply the chunk completes, synchronously; a
 * partial line or an unfinished multi-line reply is kept for the next push. Nothing here opens a
 * socket, matches replies to commands or counts them: with PIPELINING (RFC 2920) the replies of a
 * flight simply come out in order, and the client pairs them with its commands.
 *
 * LMTP uses the same reply syntax. After the end of DATA (or the last BDAT) an LMTP server sends
 * one reply per RCPT that was accepted, in RCPT order (RFC 2033 §4.2), instead of SMTP's single
 * reply; the parser returns them as separate replies and the client counts them.
 *
 * Grammar (RFC 5321 §4.2): `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP
 * textstring ] CRLF`. Every line of a reply carries the same code (else `MalformedInput`); the
 * code is three digits with a first digit of 2-5 (1yz is not used by SMTP, RFC 5321 §4.2.1). The
 * second digit is not checked against §4.2's 0-5: the client only interprets the first digit and
 * exact codes, and rejecting unusual codes would only break mail.
 *
 * Line endings: a line ends at LF; a CR right before it belongs to the terminator, any other CR is
 * text. A bare LF is accepted although RFC 5321 §2.3.8 asks servers for CRLF: replies are read,
 * never relayed, so accepting it cannot create an ambiguity for another party (unlike a server
 * reading DATA, where bare LF enables SMTP smuggling), and some servers and proxies send it.
 *
 * Text: the parser works on a latin1 view of each chunk (one decode per chunk, lines found with
 * `String#indexOf`, PARSE.md point 5) and decodes a line's text as UTF-8 only when it holds a byte
 * of 0x80 or above (SMTPUTF8 servers, RFC 6531 §3.7.4).
 *
 * Safety (S8): total and bounded. Any input gives replies or a `DecodeError` (`MalformedInput`
 * naming the ABNF rule, `LimitExceeded` naming the option), never an exception; the first error is
 * terminal. Any split of the input into chunks gives the same replies.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import type * as Framer from "@starttls/core/Framer"
import * as Limits from "@starttls/core/Limits"
import * as Result from "effect/Result"
import { Buffer, isAscii } from "node:buffer"
import { enhancedAt, fromWire, lastEnhanced, severities } from "./internal/reply.ts"
import type * as SmtpReply from "./SmtpReply.ts"

/**
 * Parser limits. Each names itself in the `LimitExceeded` it causes.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParserOptions {
  /** Longest reply line, without its CRLF, in bytes. */
  readonly maxLineLength?: number
  /** Most lines in one (multi-line) reply. */
  readonly maxLinesPerReply?: number
  /** Most bytes held without completing a reply (`buffered()`). */
  readonly maxBufferedBytes?: number
}

/**
 * Defaults. `maxLineLength` 4096: RFC 5321 §4.5.3.1.5 sets 512 octets for a reply line, but real
 * servers exceed it (long greylisting URLs, EHLO lines listing many AUTH mechanisms), and the
 * limit only has to stop a hostile server. `maxLinesPerReply` comes from `@starttls/core/Limits`
 * (an EHLO reply has a few dozen lines). `maxBufferedBytes` 1 MiB: no legitimate reply comes near
 * it, and it caps what a server can make the client hold.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultParserOptions: Required<ParserOptions> = {
  maxLineLength: 4096,
  maxLinesPerReply: Limits.defaultLimits.maxReplyLines,
  maxBufferedBytes: 1024 * 1024
}

/**
 * An incremental reply parser; the `Framer` the connection drives.
 *
 * - `push(chunk)`: every reply the bytes complete, in order. After a failure every call returns the
 *   same failure; replies completed earlier in the failing push are not returned.
 * - `buffered()`: bytes received that no returned reply accounts for (a partial line, or the lines
 *   of an unfinished multi-line reply). It is 0 right after a push that ended exactly at the end
 *   of a reply: the STARTTLS check (S3) requires 0 after the 220.
 * - `pendingPreview()`: the first (at most 64) of those bytes, for an error report.
 *
 * @category models
 * @since 0.1.0
 */
export type ReplyParser = Framer.Framer<SmtpReply.SmtpReply>

const CR = 13
const SP = 32
const HYPHEN = 45
const ZERO = 48
const PREVIEW = 64

const EMPTY: ReadonlyArray<SmtpReply.SmtpReply> = []
const HIGH = /[\x80-\xff]/g
const HAS_HIGH = /[\x80-\xff]/

const latin1 = (chunk: Uint8Array): string =>
  (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)).toString("latin1")

const utf8 = (latin1Text: string): string => Buffer.from(latin1Text, "latin1").toString("utf8")

const malformed = (s: string, start: number, lf: number, detail: string): CodecError.MalformedInput =>
  new CodecError.MalformedInput({
    grammar: "Reply-line",
    detail,
    preview: CodecError.preview(Buffer.from(s.slice(start, Math.min(lf + 1, start + PREVIEW)), "latin1"))
  })

// A single-line reply whose code (200-599) and separator are checked: the enhanced status code is
// read in place, so the text is sliced once.
const single = (s: string, from: number, end: number, code: number, d0: number, high: boolean): SmtpReply.SmtpReply => {
  let enhanced: SmtpReply.EnhancedStatusCode | undefined
  if (d0 !== 3 && end - from >= 5) {
    const n = enhancedAt(s, from, end, d0)
    if (n > 0) {
      enhanced = lastEnhanced(d0 as 2 | 4 | 5)
      from += from + n === end ? n : n + 1
    }
  }
  const text = from < end ? (high ? utf8(s.slice(from, end)) : s.slice(from, end)) : ""
  return { code, severity: severities[d0]!, enhanced, lines: [text] }
}

/**
 * Creates a reply parser.
 *
 * @example
 * ```ts
 * import * as SmtpProtocol from "@starttls/smtp/SmtpProtocol"
 * import * as Result from "effect/Result"
 *
 * const parser = SmtpProtocol.makeReplyParser()
 * const result = parser.push(new TextEncoder().encode("250-mx.example.com\r\n250 SIZE 1000\r\n"))
 * if (Result.isSuccess(result)) console.log(result.success[0]!.lines) // ["mx.example.com", "SIZE 1000"]
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeReplyParser = (options?: ParserOptions): ReplyParser => {
  const maxLineLength = options?.maxLineLength ?? defaultParserOptions.maxLineLength
  // A reply has at least one line: a limit below 1 means 1.
  const maxLinesPerReply = Math.max(1, options?.maxLinesPerReply ?? defaultParserOptions.maxLinesPerReply)
  const maxBufferedBytes = options?.maxBufferedBytes ?? defaultParserOptions.maxBufferedBytes

  // A partial line (latin1), carried to the next push.
  let rest = ""
  // The reply in progress: its code (0 when none), texts, bytes, and first bytes for previews.
  let code = 0
  let texts: Array<string> = []
  let held = 0
  let heldHead = ""
  let failure: Result.Result<never, CodecError.DecodeError> | undefined

  // One complete line s[start, lf] (the general path: every check, every error); `high`: the line
  // holds a byte >= 0x80.
  const line = (
    s: string,
    start: number,
    lf: number,
    high: boolean,
    out: Array<SmtpReply.SmtpReply>
  ): CodecError.DecodeError | undefined => {
    let end = lf
    if (end > start && s.charCodeAt(end - 1) === CR) end--
    const length = end - start
    if (length > maxLineLength) {
      return new CodecError.LimitExceeded({ limit: "maxLineLength", max: maxLineLength, actual: length })
    }
    if (length < 3) return malformed(s, start, lf, "line is shorter than a reply code")
    const d0 = s.charCodeAt(start) - ZERO
    const d1 = s.charCodeAt(start + 1) - ZERO
    const d2 = s.charCodeAt(start + 2) - ZERO
    if (!(d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) {
      return malformed(s, start, lf, "reply code is not three digits")
    }
    if (d0 < 2 || d0 > 5) {
      return malformed(
        s,
        start,
        lf,
        d0 === 1 ? "1yz replies are not used by SMTP (RFC 5321 §4.2.1)" : "reply code is outside 200-599"
      )
    }
    const c = d0 * 100 + d1 * 10 + d2
    let sep = SP
    if (length > 3) {
      sep = s.charCodeAt(start + 3)
      if (sep !== SP && sep !== HYPHEN) return malformed(s, start, lf, "expected SP or \"-\" after the reply code")
    }
    if (code !== 0 && c !== code) {
      return malformed(s, start, lf, `a multi-line reply changes its code from ${code} to ${c} (RFC 5321 §4.2.1)`)
    }
    if (texts.length >= maxLinesPerReply) {
      return new CodecError.LimitExceeded({
        limit: "maxLinesPerReply",
        max: maxLinesPerReply,
        actual: texts.length + 1
      })
    }
    if (code === 0 && sep === SP) {
      out.push(single(s, start + 4, end, c, d0, high))
      return undefined
    }
    let text = length > 4 ? s.slice(start + 4, end) : ""
    if (high) text = utf8(text)
    if (sep === HYPHEN) {
      code = c
      texts.push(text)
      held += lf + 1 - start
      if (heldHead.length < PREVIEW) heldHead += s.slice(start, Math.min(lf + 1, start + PREVIEW - heldHead.length))
      if (held > maxBufferedBytes) {
        return new CodecError.LimitExceeded({ limit: "maxBufferedBytes", max: maxBufferedBytes, actual: held })
      }
      return undefined
    }
    texts.push(text)
    out.push(fromWire(c, texts))
    code = 0
    texts = []
    held = 0
    heldHead = ""
    return undefined
  }

  const fail = (error: CodecError.DecodeError) => {
    failure = Result.fail(error)
    return failure
  }

  // Bounds the partial line kept for the next push (a CR may still be waiting for its LF).
  const keep = (partial: string): CodecError.DecodeError | undefined => {
    rest = partial
    if (partial.length > maxLineLength + 1) {
      return new CodecError.LimitExceeded({ limit: "maxLineLength", max: maxLineLength, actual: partial.length })
    }
    if (held + partial.length > maxBufferedBytes) {
      return new CodecError.LimitExceeded({
        limit: "maxBufferedBytes",
        max: maxBufferedBytes,
        actual: held + partial.length
      })
    }
    return undefined
  }

  const push = (chunk: Uint8Array): Result.Result<ReadonlyArray<SmtpReply.SmtpReply>, CodecError.DecodeError> => {
    if (failure !== undefined) return failure
    if (chunk.length === 0) return Result.succeed(EMPTY)
    const s = latin1(chunk)
    const out: Array<SmtpReply.SmtpReply> = []
    let pos = 0
    if (rest.length > 0) {
      const lf = s.indexOf("\n")
      if (lf === -1) {
        const error = keep(rest + s)
        return error === undefined ? Result.succeed(out) : fail(error)
      }
      const joined = rest + s.slice(0, lf + 1)
      rest = ""
      const error = line(joined, 0, joined.length - 1, HAS_HIGH.test(joined), out)
      if (error !== undefined) return fail(error)
      pos = lf + 1
    }
    // Bytes >= 0x80 are rare (SMTPUTF8 text): one SIMD check per chunk, a search only if needed.
    let high = -1
    if (!isAscii(chunk)) {
      HIGH.lastIndex = pos
      high = HIGH.test(s) ? HIGH.lastIndex - 1 : -1
    }
    let lf = s.indexOf("\n", pos)
    while (lf !== -1) {
      const hasHigh = high !== -1 && high < lf
      if (code === 0 && !hasHigh) {
        // Fast path: a valid single-line ASCII reply outside a multi-line one (most replies).
        const end = lf > pos && s.charCodeAt(lf - 1) === CR ? lf - 1 : lf
        const length = end - pos
        const d0 = s.charCodeAt(pos) - ZERO
        const d1 = s.charCodeAt(pos + 1) - ZERO
        const d2 = s.charCodeAt(pos + 2) - ZERO
        if (
          length >= 3 && length <= maxLineLength && d0 >= 2 && d0 <= 5 && d1 >= 0 && d1 <= 9 && d2 >= 0 &&
          d2 <= 9 && (length === 3 || s.charCodeAt(pos + 3) === SP)
        ) {
          out.push(single(s, pos + 4, end, d0 * 100 + d1 * 10 + d2, d0, false))
          pos = lf + 1
          lf = s.indexOf("\n", pos)
          continue
        }
      }
      const error = line(s, pos, lf, hasHigh, out)
      if (error !== undefined) return fail(error)
      pos = lf + 1
      if (hasHigh) {
        HIGH.lastIndex = pos
        high = HIGH.test(s) ? HIGH.lastIndex - 1 : -1
      }
      lf = s.indexOf("\n", pos)
    }
    if (pos < s.length) {
      const error = keep(s.slice(pos))
      if (error !== undefined) return fail(error)
    }
    return Result.succeed(out)
  }

  return {
    push,
    buffered: () => held + rest.length,
    pendingPreview: () => new Uint8Array(Buffer.from((heldHead + rest).slice(0, PREVIEW), "latin1"))
  }
}

/**
 * Parses a complete byte string into replies (tests, fixtures, one-shot use). Fails if the bytes
 * end inside a reply.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseAll = (
  bytes: Uint8Array,
  options?: ParserOptions
): Result.Result<ReadonlyArray<SmtpReply.SmtpReply>, CodecError.DecodeError> => {
  const parser = makeReplyParser(options)
  const result = parser.push(bytes)
  if (Result.isFailure(result) || parser.buffered() === 0) return result
  return Result.fail(
    new CodecError.MalformedInput({
      grammar: "Reply-line",
      detail: "input ends inside a reply",
      preview: CodecError.preview(parser.pendingPreview())
    })
  )
}
