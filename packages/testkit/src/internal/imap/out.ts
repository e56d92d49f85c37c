/**
 * Server output: a list of pieces (text and byte views) that the session writes with backpressure.
 * Text is a "binary string" (one character per byte, latin1), so any byte of a stored message or a
 * mailbox name survives unchanged; message bytes are never copied into a piece, only viewed.
 *
 * String encoders follow RFC 9051 §4.3: quoted when every byte is printable ASCII, a literal
 * otherwise (8-bit, CR, LF, NUL ...), `NIL` for an absent nstring, an atom for an astring when
 * the atom grammar allows it.
 *
 * @internal
 */

export type Piece =
  | { readonly _tag: "Text"; readonly text: string }
  /** `body`: FETCH message data (the bytes a "drop after N literal bytes" fault counts). */
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array; readonly body: boolean }

export interface Out {
  readonly pieces: Array<Piece>
  readonly text: (text: string) => Out
  readonly bytes: (bytes: Uint8Array, body?: boolean) => Out
  /** `{n}` CRLF and the bytes (RFC 9051 §4.3.1). */
  readonly literal: (bytes: Uint8Array, body?: boolean) => Out
  /** A string: quoted when possible, else a literal. */
  readonly string: (value: string) => Out
  /** `NIL` or a string. */
  readonly nstring: (value: string | undefined) => Out
  /** An atom when the atom grammar allows it, else a string. */
  readonly astring: (value: string) => Out
}

const QUOTABLE = /^[\x20-\x7e]*$/
// RFC 9051 §9: ASTRING-CHAR = ATOM-CHAR / resp-specials; atom-specials = "(" ")" "{" SP CTL
// list-wildcards quoted-specials resp-specials.
const ASTRING = /^[\x21\x23-\x24\x26-\x27\x2b-\x5b\x5d-\x7a\x7c-\x7e]+$/
const MAX_QUOTED = 4096

/** Binary string (latin1) to bytes. */
export const bytesOf = (text: string): Uint8Array => Buffer.from(text, "latin1")

/** Bytes to a binary string. */
export const binary = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1")

/** A JavaScript (UTF-16) string to the binary string of its UTF-8 bytes. */
export const fromUnicode = (text: string): string => Buffer.from(text, "utf8").toString("latin1")

/** The binary string of UTF-8 bytes back to a JavaScript string. */
export const toUnicode = (text: string): string => Buffer.from(text, "latin1").toString("utf8")

export const quote = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`

export const canQuote = (value: string): boolean => value.length <= MAX_QUOTED && QUOTABLE.test(value)

export const isAstringAtom = (value: string): boolean => ASTRING.test(value)

export const make = (): Out => {
  const pieces: Array<Piece> = []
  const out: Out = {
    pieces,
    text: (text) => {
      if (text.length === 0) return out
      const last = pieces[pieces.length - 1]
      if (last !== undefined && last._tag === "Text") pieces[pieces.length - 1] = { _tag: "Text", text: last.text + text }
      else pieces.push({ _tag: "Text", text })
      return out
    },
    bytes: (bytes, body = false) => {
      if (bytes.length > 0) pieces.push({ _tag: "Bytes", bytes, body })
      return out
    },
    literal: (bytes, body = false) => out.text(`{${bytes.length}}\r\n`).bytes(bytes, body),
    string: (value) => canQuote(value) ? out.text(quote(value)) : out.literal(bytesOf(value)),
    nstring: (value) => value === undefined ? out.text("NIL") : out.string(value),
    astring: (value) => isAstringAtom(value) ? out.text(value) : out.string(value)
  }
  return out
}

/** Total bytes of the pieces. */
export const size = (pieces: ReadonlyArray<Piece>): number => {
  let total = 0
  for (const piece of pieces) total += piece._tag === "Text" ? piece.text.length : piece.bytes.length
  return total
}
