/**
 * What a POP3 server sends, as plain data: status lines (`+OK` / `-ERR`, RFC 1939 §3) with their
 * extended response codes (RFC 2449 §8, RFC 3206, RFC 6856), SASL continuations (`+ base64`,
 * RFC 5034 §4), and the frames `Pop3Protocol`'s parser produces, each tagged with the expectation
 * (the command) it answers. Also the pure decoders of the answers' contents: STAT, LIST and UIDL
 * (RFC 1939 §5, §7) and SASL challenges.
 *
 * Nothing here decides whether server text can be trusted: `text` and unknown codes are
 * server-controlled, and codes received before TLS must not decide anything (invariant S10).
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Base64 from "effect/encoding/Base64"
import * as Result from "effect/Result"

// -----------------------------------------------------------------------------
// Status lines
// -----------------------------------------------------------------------------

/**
 * An extended response code (RFC 2449 §8): `[SYS/TEMP]` is `{ tokens: ["SYS", "TEMP"] }`. Codes are
 * hierarchical (a client that does not know `SYS/TEMP` may still act on `SYS`), compared without
 * regard to case, and kept upper-cased; unknown codes are kept as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResponseCode {
  readonly tokens: ReadonlyArray<string>
}

/**
 * A positive status line: `+OK [code] text`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Ok {
  readonly _tag: "Ok"
  readonly code: ResponseCode | undefined
  /** The text after the status (and after the code, if any). Server-controlled. */
  readonly text: string
}

/**
 * A negative status line: `-ERR [code] text`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Err {
  readonly _tag: "Err"
  readonly code: ResponseCode | undefined
  /** The text after the status (and after the code, if any). Server-controlled, never trusted. */
  readonly text: string
}

/**
 * A status line (RFC 2449 §9 `single-line`).
 *
 * @category models
 * @since 0.1.0
 */
export type StatusLine = Ok | Err

/**
 * Codes defined by the RFCs (RFC 2449 §8.1, RFC 3206, RFC 6856). Other codes are kept
 * as sent in `ResponseCode.tokens`.
 *
 * @category models
 * @since 0.1.0
 */
export type KnownCode = "LOGIN-DELAY" | "IN-USE" | "SYS/TEMP" | "SYS/PERM" | "AUTH" | "UTF8"

/**
 * Whether the status carries `code` or one of its sub-codes: `hasCode(s, "SYS")` holds for
 * `[SYS/TEMP]` (RFC 2449 §8: codes are hierarchical). Case-insensitive.
 *
 * @category guards
 * @since 0.1.0
 */
export const hasCode = (status: StatusLine, code: KnownCode | (string & {})): boolean => {
  const have = status.code
  if (have === undefined) return false
  const want = code.toUpperCase().split("/")
  if (want.length > have.tokens.length) return false
  for (let i = 0; i < want.length; i++) if (want[i] !== have.tokens[i]) return false
  return true
}

/**
 * The code as written on the wire, without brackets (`"SYS/TEMP"`), or `undefined`.
 *
 * @category decoding
 * @since 0.1.0
 */
export const codeText = (status: StatusLine): string | undefined => status.code?.tokens.join("/")

const isCodeChar = (c: number): boolean => c >= 0x21 && c <= 0x7e && c !== 0x2f && c !== 0x5d

/**
 * Splits `[code] text` (RFC 2449 §8 `resp-code`). A text that starts with `[` but holds no well-formed
 * code is kept whole, as text.
 *
 * @category decoding
 * @since 0.1.0
 */
export const statusLine = (tag: "Ok" | "Err", rest: string): StatusLine => {
  if (rest.charCodeAt(0) === 0x5b) {
    const close = rest.indexOf("]")
    if (close > 1) {
      const tokens: Array<string> = []
      let start = 1
      let ok = true
      for (let i = 1; i <= close && ok; i++) {
        const c = rest.charCodeAt(i)
        if (c === 0x2f || c === 0x5d) {
          if (i === start) ok = false
          else tokens.push(rest.slice(start, i).toUpperCase())
          start = i + 1
        } else if (!isCodeChar(c)) {
          ok = false
        }
      }
      if (ok) {
        const text = rest.charCodeAt(close + 1) === 0x20 ? rest.slice(close + 2) : rest.slice(close + 1)
        return { _tag: tag, code: { tokens }, text }
      }
    }
  }
  return { _tag: tag, code: undefined, text: rest }
}

// -----------------------------------------------------------------------------
// Frames
// -----------------------------------------------------------------------------

/**
 * What the client expects as the answer to a command, in the order the commands were sent
 * (`Pop3Command.expectation` gives it for every command):
 *
 * - `"greeting"`: the server's first line (RFC 1939 §4), a status line.
 * - `"single"`: a status line.
 * - `"multi"`: a status line; after `+OK`, dot-stuffed lines up to `.` collected into one `Lines`
 *   frame (CAPA, LIST, UIDL, LANG without argument).
 * - `"multiStream"`: a status line; after `+OK`, the body as `BodyChunk` frames and a `BodyEnd`
 *   (RETR, TOP).
 * - `"sasl"`: a SASL continuation `+ base64` or a status line (AUTH and each response in the
 *   exchange, RFC 5034 §4).
 *
 * @category models
 * @since 0.1.0
 */
export type Expectation = "greeting" | "single" | "multi" | "multiStream" | "sasl"

/**
 * The status line answering expectation number `expectation`. After `+OK` to a `"multi"` or
 * `"multiStream"` expectation, the body frames of the same expectation follow; after `-ERR` there
 * is no body.
 *
 * @category models
 * @since 0.1.0
 */
export interface Status {
  readonly _tag: "Status"
  /** The number `Parser.expect` returned for the expectation this answers. */
  readonly expectation: number
  readonly kind: Expectation
  readonly status: StatusLine
}

/**
 * A SASL continuation `"+" SP [base64]` (RFC 5034 §4) answering a `"sasl"` expectation. `text` is the
 * raw base64 (decode it with `decodeChallenge`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Continuation {
  readonly _tag: "Continuation"
  readonly expectation: number
  readonly text: string
}

/**
 * The lines of a `"multi"` answer after its `+OK`, dot-unstuffed, without line endings and without
 * the final `.` (RFC 1939 §3). Decoded as UTF-8 (RFC 6856 allows UTF-8 after the UTF8 command).
 *
 * @category models
 * @since 0.1.0
 */
export interface Lines {
  readonly _tag: "Lines"
  readonly expectation: number
  readonly lines: ReadonlyArray<string>
}

/**
 * Body bytes of a `"multiStream"` answer, dot-unstuffed, line endings kept as sent (CRLF). A view
 * into the pushed chunk (copied only in the rare case noted in `Pop3Protocol`): consume it or copy
 * it before reusing that chunk's memory. Never empty.
 *
 * @category models
 * @since 0.1.0
 */
export interface BodyChunk {
  readonly _tag: "BodyChunk"
  readonly expectation: number
  readonly bytes: Uint8Array
}

/**
 * The end of a `"multiStream"` body (the `.` line was read). `size` is the number of body bytes
 * delivered in its `BodyChunk` frames.
 *
 * @category models
 * @since 0.1.0
 */
export interface BodyEnd {
  readonly _tag: "BodyEnd"
  readonly expectation: number
  readonly size: number
}

/**
 * Everything the parser emits.
 *
 * @category models
 * @since 0.1.0
 */
export type Frame = Status | Continuation | Lines | BodyChunk | BodyEnd

// -----------------------------------------------------------------------------
// Answer contents
// -----------------------------------------------------------------------------

/**
 * The answer to STAT (RFC 1939 §5): messages in the maildrop (not counting deleted ones) and their
 * total size in octets.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stat {
  readonly count: number
  readonly size: number
}

/**
 * One scan listing (RFC 1939 §5 LIST): message number and size in octets.
 *
 * @category models
 * @since 0.1.0
 */
export interface ListEntry {
  readonly msg: number
  readonly size: number
}

/**
 * One unique-id listing (RFC 1939 §7 UIDL): message number and unique id (1-70 characters in
 * 0x21-0x7E).
 *
 * @category models
 * @since 0.1.0
 */
export interface UidlEntry {
  readonly msg: number
  readonly uid: string
}

const malformed = (grammar: string, detail: string, text: string): CodecError.MalformedInput =>
  new CodecError.MalformedInput({ grammar, detail, preview: CodecError.preview(new TextEncoder().encode(text)) })

/** Digits at `from` up to a space or the end: the number, or -1. At most 15 digits (safe integers). */
const number = (text: string, from: number, to: number): number => {
  if (to <= from || to - from > 15) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 0x30
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** `a SP b [SP anything]` with `a`, `b` numbers (RFC 1939 §5 STAT / scan listing). */
const twoNumbers = (grammar: string, text: string): Result.Result<readonly [number, number], CodecError.MalformedInput> => {
  const sp = text.indexOf(" ")
  if (sp < 0) return Result.fail(malformed(grammar, "expected two numbers separated by a space", text))
  let end = text.indexOf(" ", sp + 1)
  if (end < 0) end = text.length
  const a = number(text, 0, sp)
  const b = number(text, sp + 1, end)
  if (a < 0 || b < 0) return Result.fail(malformed(grammar, "expected two numbers separated by a space", text))
  return Result.succeed([a, b] as const)
}

/**
 * Reads STAT's `+OK count size` (RFC 1939 §5; what follows the size is ignored, as the RFC allows).
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseStat = (status: StatusLine): Result.Result<Stat, CodecError.MalformedInput> => {
  if (status._tag !== "Ok") return Result.fail(malformed("drop-listing", "STAT was refused", status.text))
  return Result.map(twoNumbers("drop-listing", status.text), ([count, size]) => ({ count, size }))
}

/**
 * Reads one scan listing `msg SP size` (a line of LIST, or the text of `+OK` to `LIST msg`);
 * whatever follows the size after a space is ignored (RFC 1939 §5). Message numbers start at 1.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseListLine = (text: string): Result.Result<ListEntry, CodecError.MalformedInput> =>
  Result.flatMap(twoNumbers("scan-listing", text), ([msg, size]) =>
    msg < 1
      ? Result.fail(malformed("scan-listing", "message numbers start at 1", text))
      : Result.succeed({ msg, size }))

/**
 * Reads one unique-id listing `msg SP uid` (a line of UIDL, or the text of `+OK` to `UIDL msg`;
 * RFC 1939 §7: the id is 1 to 70 characters in 0x21-0x7E).
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseUidlLine = (text: string): Result.Result<UidlEntry, CodecError.MalformedInput> => {
  const sp = text.indexOf(" ")
  const msg = sp < 0 ? -1 : number(text, 0, sp)
  if (msg < 1) return Result.fail(malformed("unique-id-listing", "expected a message number and a space", text))
  const uidLength = text.length - sp - 1
  if (uidLength < 1 || uidLength > 70) {
    return Result.fail(malformed("unique-id-listing", "unique id must be 1 to 70 characters", text))
  }
  for (let i = sp + 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) {
      return Result.fail(malformed("unique-id-listing", "unique id characters must be 0x21-0x7E", text))
    }
  }
  return Result.succeed({ msg, uid: text.slice(sp + 1) })
}

const parseAll = <A>(
  lines: ReadonlyArray<string>,
  parseLine: (text: string) => Result.Result<A, CodecError.MalformedInput>
): Result.Result<ReadonlyArray<A>, CodecError.MalformedInput> => {
  const out: Array<A> = []
  for (const line of lines) {
    const entry = parseLine(line)
    if (Result.isFailure(entry)) return Result.fail(entry.failure)
    out.push(entry.success)
  }
  return Result.succeed(out)
}

/**
 * Reads the lines of a multi-line LIST answer.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseList = (lines: ReadonlyArray<string>): Result.Result<ReadonlyArray<ListEntry>, CodecError.MalformedInput> =>
  parseAll(lines, parseListLine)

/**
 * Reads the lines of a multi-line UIDL answer.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseUidl = (lines: ReadonlyArray<string>): Result.Result<ReadonlyArray<UidlEntry>, CodecError.MalformedInput> =>
  parseAll(lines, parseUidlLine)

/**
 * Decodes a continuation's base64 (RFC 5034 §4; an empty text is an empty challenge).
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeChallenge = (
  continuation: Continuation | string
): Result.Result<Uint8Array, CodecError.MalformedInput> => {
  const text = typeof continuation === "string" ? continuation : continuation.text
  return Result.mapError(Base64.decode(text), () => malformed("continue-req", "challenge is not base64", text))
}
