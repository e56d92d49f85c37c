/**
 * The argument grammar of client commands (RFC 9051 §4, §9): atoms, astrings, quoted strings,
 * literals in the three literal modes (RFC 7888), lists, and the redacted trace written alongside.
 *
 * The writer keeps a sticky error like go-imap's `imapwire.Encoder`: after the first invalid
 * argument every write is a no-op and `finish` returns that error, so nothing is produced.
 *
 * @internal
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import type * as ImapCapabilities from "../ImapCapabilities.ts"
import type * as ImapCommand from "../ImapCommand.ts"

/** Longest string sent as a quoted string, in UTF-8 octets; longer ones become literals. */
export const MAX_QUOTED = 1024

/** Largest literal LITERAL- lets the client send without waiting (RFC 7888 §5). */
export const MAX_LITERAL_MINUS = 4096

const table = (accept: (c: number) => boolean): Uint8Array => {
  const t = new Uint8Array(128)
  for (let c = 0; c < 128; c++) t[c] = accept(c) ? 1 : 0
  return t
}

// RFC 9051 §9: ATOM-CHAR = any CHAR except atom-specials
//   atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
const isAtomChar = (c: number): boolean =>
  c > 0x20 && c < 0x7f && c !== 0x28 && c !== 0x29 && c !== 0x7b && c !== 0x25 && c !== 0x2a &&
  c !== 0x22 && c !== 0x5c && c !== 0x5d

/** ATOM-CHAR. */
export const ATOM: Uint8Array = table(isAtomChar)
/** ASTRING-CHAR = ATOM-CHAR / resp-specials. */
export const ASTRING: Uint8Array = table((c) => isAtomChar(c) || c === 0x5d)
/** list-char = ATOM-CHAR / list-wildcards / resp-specials (RFC 9051 §9 `list-mailbox`). */
export const LIST_CHAR: Uint8Array = table((c) => isAtomChar(c) || c === 0x5d || c === 0x25 || c === 0x2a)
/** tag = 1*<any ASTRING-CHAR except "+">. */
export const TAG_CHAR: Uint8Array = table((c) => (isAtomChar(c) || c === 0x5d) && c !== 0x2b)

/** True when `value` is non-empty and made only of characters in `chars`. */
export const isToken = (value: string, chars: Uint8Array): boolean => {
  if (value.length === 0) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 128 || chars[c] === 0) return false
  }
  return true
}

const isNil = (value: string): boolean =>
  value.length === 3 && value.toUpperCase() === "NIL"

const QUOTE_SPECIALS = /["\\]/g

/** The quoted form of a string known to be quotable. */
export const quote = (value: string): string => `"${value.replace(QUOTE_SPECIALS, "\\$&")}"`

/** How arguments are written for one server. */
export interface Mode {
  readonly literal: ImapCapabilities.LiteralMode
  /** UTF-8 allowed in quoted strings (UTF8=ACCEPT enabled, IMAP4rev2). */
  readonly utf8: boolean
  /** literal8 allowed (BINARY, RFC 3516). */
  readonly binary: boolean
}

const encoder = new TextEncoder()
const AWAIT: ImapCommand.Part = { _tag: "AwaitContinuation" }

/** One command being written. */
export class Writer {
  readonly mode: Mode
  private segment = ""
  private trace = ""
  private secretDepth = 0
  private readonly parts: Array<ImapCommand.Part> = []
  private error: CodecError.EncodeError | undefined

  constructor(mode: Mode) {
    this.mode = mode
  }

  /** Whether a write has failed. */
  get failed(): boolean {
    return this.error !== undefined
  }

  /** Records the first error; later writes are ignored. */
  fail(field: string, detail: string): void {
    this.error ??= new CodecError.EncodeError({ field, detail })
  }

  /** Writes trusted protocol text (command names, fixed keywords, validated tokens). */
  raw(text: string): this {
    if (this.error !== undefined) return this
    this.segment += text
    if (this.secretDepth === 0) this.trace += text
    return this
  }

  sp(): this {
    return this.raw(" ")
  }

  /** Writes what `body` writes, with "***" in the trace in its place (invariant S7). */
  secret(body: () => void): this {
    this.secretDepth++
    body()
    this.secretDepth--
    if (this.secretDepth === 0 && this.error === undefined) this.trace += "***"
    return this
  }

  /** A token of `chars` (atom, tag, ...), validated. */
  token(value: string, chars: Uint8Array, field: string): this {
    if (!isToken(value, chars)) {
      this.fail(field, value.length === 0 ? "must not be empty" : `${JSON.stringify(value)} is not a valid atom`)
      return this
    }
    return this.raw(value)
  }

  atom(value: string, field: string): this {
    return this.token(value, ATOM, field)
  }

  /** astring: an atom when every character is ASTRING-CHAR (and it is not NIL), else a string. */
  astring(value: string, field: string): this {
    return this.text(value, field, ASTRING)
  }

  /** list-mailbox: unquoted when every character is a list-char, else a string. */
  listMailbox(value: string, field: string): this {
    return this.text(value, field, LIST_CHAR)
  }

  /** string: quoted when possible, else a literal. */
  string(value: string, field: string): this {
    return this.text(value, field, undefined)
  }

  /** A quoted string only (a position where the grammar allows no literal). */
  quoted(value: string, field: string): this {
    const scan = this.scan(value, field)
    if (scan === undefined) return this
    if (!scan.quotable || (!scan.ascii && !this.mode.utf8)) {
      this.fail(field, "must be a quoted string: printable text without CR or LF")
      return this
    }
    return this.raw(quote(value))
  }

  /** A decimal number. */
  number(value: number | string): this {
    return this.raw(String(value))
  }

  /** A parenthesized list; `item` writes element `i`. */
  list(length: number, item: (i: number) => void): this {
    this.raw("(")
    for (let i = 0; i < length && this.error === undefined; i++) {
      if (i > 0) this.sp()
      item(i)
    }
    return this.raw(")")
  }

  /**
   * The literal header for data the caller sends itself (APPEND's message): `{n}`, `{n+}`,
   * `~{n}` or `~{n+}`, then a continuation wait if synchronizing, then a `Payload` part.
   */
  payload(size: number, binary: boolean): this {
    if (this.error !== undefined) return this
    this.literalHeader(size, binary, false)
    if (this.segment.length > 0) this.flush()
    this.parts.push({ _tag: "Payload", size })
    return this
  }

  /** Ends the command with CRLF. */
  finish(): Result.Result<ImapCommand.EncodedCommand, CodecError.EncodeError> {
    if (this.error !== undefined) return Result.fail(this.error)
    this.segment += "\r\n"
    this.flush()
    return Result.succeed({ parts: this.parts, redacted: this.trace })
  }

  private flush(): void {
    this.parts.push({ _tag: "Line", bytes: encoder.encode(this.segment) })
    this.segment = ""
  }

  // The trace shows a literal as sent ("{5}" CRLF data), except APPEND's header, which ends the trace.
  private literalHeader(size: number, binary: boolean, traceCrlf: boolean): void {
    const nonSync = this.mode.literal === "plus" || (this.mode.literal === "minus" && size <= MAX_LITERAL_MINUS)
    const header = `${binary ? "~" : ""}{${size}${nonSync ? "+" : ""}}`
    this.segment += header + "\r\n"
    if (this.secretDepth === 0) this.trace += traceCrlf ? header + "\r\n" : header
    if (!nonSync) {
      this.flush()
      this.parts.push(AWAIT)
    }
  }

  // One pass over the UTF-16 code units: NUL and lone surrogates are errors; records whether the
  // string can be an unquoted token of `chars`, a quoted string, and its UTF-8 length.
  private scan(
    value: string,
    field: string,
    chars?: Uint8Array
  ): { readonly token: boolean; readonly quotable: boolean; readonly ascii: boolean; readonly bytes: number } | undefined {
    if (this.error !== undefined) return undefined
    let token = chars !== undefined && value.length > 0
    let quotable = true
    let ascii = true
    let bytes = 0
    const n = value.length
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i)
      if (c < 0x80) {
        bytes++
        if (c === 0) {
          this.fail(field, "NUL is not allowed")
          return undefined
        }
        if (c === 0x0d || c === 0x0a) {
          quotable = false
          token = false
        } else if (token && chars![c] === 0) {
          token = false
        }
        continue
      }
      token = false
      ascii = false
      if (c < 0x800) {
        bytes += 2
      } else if (c >= 0xd800 && c <= 0xdbff) {
        const next = value.charCodeAt(i + 1)
        if (!(next >= 0xdc00 && next <= 0xdfff)) {
          this.fail(field, "lone surrogate (not well-formed Unicode)")
          return undefined
        }
        bytes += 4
        i++
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        this.fail(field, "lone surrogate (not well-formed Unicode)")
        return undefined
      } else {
        bytes += 3
      }
    }
    return { token: token && !isNil(value), quotable, ascii, bytes }
  }

  private text(value: string, field: string, chars: Uint8Array | undefined): this {
    const scan = this.scan(value, field, chars)
    if (scan === undefined) return this
    if (scan.token) return this.raw(value)
    if (scan.quotable && (scan.ascii || this.mode.utf8) && scan.bytes <= MAX_QUOTED) return this.raw(quote(value))
    this.literalHeader(scan.bytes, false, true)
    return this.raw(value)
  }
}
