/**
 * Mailbox names on the wire (RFC 3501 §5.1, RFC 9051 §5.1): modified UTF-7 for IMAP4rev1, UTF-8
 * once UTF8=ACCEPT is enabled (RFC 6855 §3) or IMAP4rev2 is in effect, and the case-insensitive
 * name INBOX.
 *
 * This module turns a name into the text of the `mailbox` argument and back; quoting that text as
 * an atom, quoted string or literal is the command encoder's job (`ImapCommand`). It does not
 * apply hierarchy delimiters or namespaces.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import * as Utf7 from "./internal/utf7.ts"

/**
 * How names are written: `utf8: true` when UTF8=ACCEPT is enabled or IMAP4rev2 is in effect.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly utf8: boolean
}

/**
 * The special name of the primary mailbox (RFC 9051 §5.1: case-insensitive).
 *
 * @category constructors
 * @since 0.1.0
 */
export const INBOX = "INBOX"

// ASCII-only case folding: "ınbox" (dotless i) upper-cases to "INBOX" with toUpperCase, yet it is
// a different mailbox name.
const isInbox = (name: string): boolean => {
  if (name.length !== 5) return false
  for (let i = 0; i < 5; i++) {
    const c = name.charCodeAt(i)
    if ((c >= 0x61 && c <= 0x7a ? c - 0x20 : c) !== INBOX.charCodeAt(i)) return false
  }
  return true
}

/**
 * Any ASCII-case spelling of INBOX becomes "INBOX"; every other name is returned unchanged.
 *
 * @category constructors
 * @since 0.1.0
 */
export const normalize = (name: string): string => (isInbox(name) ? INBOX : name)

/**
 * Encodes a name to modified UTF-7 (RFC 3501 §5.1.3). Total for any string; lone surrogates are
 * encoded as code units (and refused by `decodeUtf7`), see `encode` for the validating entry point.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeUtf7: (name: string) => string = Utf7.encode

/**
 * Decodes canonical modified UTF-7, failing on any non-canonical or invalid form.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeUtf7 = (wire: string): Result.Result<string, CodecError.MalformedInput> =>
  Result.mapError(Utf7.decode(wire), (detail) =>
    new CodecError.MalformedInput({
      grammar: "mailbox (modified UTF-7)",
      detail,
      preview: CodecError.preview(new TextEncoder().encode(wire))
    }))

/**
 * The first reason a name cannot be sent, if any: NUL, CR and LF are never part of a mailbox
 * name, and lone surrogates have no UTF-8 or UTF-16 wire form.
 *
 * @category encoding
 * @since 0.1.0
 */
export const invalidReason = (name: string): string | undefined => {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 0) return "NUL is not allowed"
    if (c === 0x0d || c === 0x0a) return "CR and LF are not allowed"
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = name.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return "lone surrogate"
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return "lone surrogate"
    }
  }
  return undefined
}

/**
 * The wire text of a mailbox name: INBOX normalized, then UTF-8 as is (`utf8: true`) or modified
 * UTF-7.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (name: string, options: Options): Result.Result<string, CodecError.EncodeError> => {
  const reason = invalidReason(name)
  if (reason !== undefined) return Result.fail(new CodecError.EncodeError({ field: "mailbox", detail: reason }))
  const normalized = normalize(name)
  return Result.succeed(options.utf8 ? normalized : Utf7.encode(normalized))
}

/**
 * The name denoted by a mailbox argument received from the server (LIST, STATUS ...): UTF-8 as is
 * (`utf8: true`) or strict modified UTF-7; INBOX normalized.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (wire: string, options: Options): Result.Result<string, CodecError.MalformedInput> =>
  options.utf8 ? Result.succeed(normalize(wire)) : Result.map(decodeUtf7(wire), normalize)
