/**
 * The two 7-bit encodings of SMTP parameter values used by DSN and AUTH:
 *
 * - xtext (RFC 3461 §4): `xchar` (`!` to `~` except `+` and `=`) stands for itself, any other octet
 *   is `+` and two upper-case hex digits. Used by `ENVID=`, `ORCPT=rfc822;` and `AUTH=` (RFC 4954
 *   §5). Strings are encoded as UTF-8 octets.
 * - utf-8-addr-xtext (RFC 6533 §3): `QCHAR` (`!` to `~` except `+`, `=` and `\`) stands for
 *   itself, any other code point is `\x{HEX}` (upper-case hex, no leading zeros, at least two
 *   digits). Used by `ORCPT=utf-8;`. It is 7-bit, so it is valid with or without SMTPUTF8.
 *
 * Encoders are total. A string with a lone surrogate has no UTF-8 form: `encode` writes U+FFFD for
 * it (as `TextEncoder` does); the command encoders reject such strings before they get here.
 * Decoders are strict about the grammar and return `MalformedInput`.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"

const HEX = "0123456789ABCDEF"
const PLUS = 43
const EQUALS = 61
const BACKSLASH = 92

// RFC 3461 §4: xchar = "!" .. "~" except "+" and "=".
const isXchar = (b: number): boolean => b >= 33 && b <= 126 && b !== PLUS && b !== EQUALS

// RFC 6533 §3: QCHAR = %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e.
const isQchar = (c: number): boolean => c >= 33 && c <= 126 && c !== PLUS && c !== EQUALS && c !== BACKSLASH

const malformed = (grammar: string, text: string, detail: string) =>
  Result.fail(
    new CodecError.MalformedInput({ grammar, detail, preview: CodecError.preview(Buffer.from(text, "utf8")) })
  )

/**
 * Encodes a string as xtext (RFC 3461 §4), over its UTF-8 octets.
 *
 * @example
 * ```ts
 * import * as Xtext from "@starttls/smtp/Xtext"
 *
 * Xtext.encode("a+b=c d") // "a+2Bb+3Dc+20d"
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (value: string): string => {
  let out = ""
  let plain = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 128 && isXchar(c)) continue
    if (c >= 128) {
      // Non-ASCII: encode the rest octet by octet.
      out += value.slice(plain, i)
      const bytes = Buffer.from(value.slice(i), "utf8")
      for (const b of bytes) out += isXchar(b) ? String.fromCharCode(b) : "+" + HEX[b >> 4] + HEX[b & 15]
      return out
    }
    out += value.slice(plain, i) + "+" + HEX[c >> 4] + HEX[c & 15]
    plain = i + 1
  }
  return out + value.slice(plain)
}

const hexValue = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : -1)

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Decodes xtext (RFC 3461 §4) to octets and reads them as UTF-8. Fails on a character outside
 * xtext, a `+` not followed by two upper-case hex digits, or octets that are not UTF-8.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (text: string): Result.Result<string, CodecError.MalformedInput> => {
  const bytes: Array<number> = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === PLUS) {
      const hi = hexValue(text.charCodeAt(i + 1))
      const lo = hexValue(text.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return malformed("xtext", text, "\"+\" must be followed by two upper-case hex digits")
      bytes.push(hi * 16 + lo)
      i += 2
    } else if (isXchar(c)) {
      bytes.push(c)
    } else {
      return malformed("xtext", text, `character ${JSON.stringify(text[i])} is not allowed in xtext`)
    }
  }
  try {
    return Result.succeed(fatalUtf8.decode(Uint8Array.from(bytes)))
  } catch {
    return malformed("xtext", text, "decoded octets are not UTF-8")
  }
}

/**
 * Encodes an address as RFC 6533 utf-8-addr-xtext (for `ORCPT=utf-8;`): QCHARs as themselves,
 * every other code point as `\x{HEX}`.
 *
 * @example
 * ```ts
 * import * as Xtext from "@starttls/smtp/Xtext"
 *
 * Xtext.encodeUtf8Address("jörg+x@example.com") // "j\\x{F6}rg\\x{2B}x@example.com"
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeUtf8Address = (value: string): string => {
  let out = ""
  for (const ch of value) {
    const c = ch.codePointAt(0)!
    if (isQchar(c)) out += ch
    else {
      const cp = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c
      const hex = cp.toString(16).toUpperCase()
      out += `\\x{${hex.length === 1 ? "0" + hex : hex}}`
    }
  }
  return out
}

const HEXPOINT = /^(?:0[1-9]|1[0-9]|[2-9A-F][0-9A-F]|[1-9A-F][0-9A-F]{2,3}|[1-9A-F][0-9A-F]{4}|10[0-9A-F]{4})$/

/**
 * Decodes RFC 6533 utf-8-addr-xtext, and its utf-8-addr-unitext form (raw non-ASCII characters
 * allowed, as sent under SMTPUTF8). Fails on a character outside the grammar, a malformed or
 * non-minimal `\x{...}`, a surrogate or a code point above U+10FFFF.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeUtf8Address = (text: string): Result.Result<string, CodecError.MalformedInput> => {
  let out = ""
  let i = 0
  while (i < text.length) {
    const c = text.codePointAt(i)!
    if (c === BACKSLASH) {
      const close = text.indexOf("}", i)
      if (text.charCodeAt(i + 1) !== 120 || text.charCodeAt(i + 2) !== 123 || close === -1) {
        return malformed("utf-8-addr-xtext", text, "\"\\\" must start \\x{HEX}")
      }
      const hex = text.slice(i + 3, close)
      const cp = parseInt(hex, 16)
      if (!HEXPOINT.test(hex) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return malformed("utf-8-addr-xtext", text, `\\x{${hex}} is not a valid HEXPOINT (RFC 6533 §3)`)
      }
      // Only code points that need it may be escaped: QCHARs stand for themselves (minimal form).
      if (isQchar(cp)) return malformed("utf-8-addr-xtext", text, `\\x{${hex}} escapes a QCHAR`)
      out += String.fromCodePoint(cp)
      i = close + 1
    } else if (isQchar(c) || (c >= 0x80 && !(c >= 0xd800 && c <= 0xdfff))) {
      const ch = String.fromCodePoint(c)
      out += ch
      i += ch.length
    } else {
      return malformed("utf-8-addr-xtext", text, `character U+${c.toString(16).toUpperCase()} is not allowed`)
    }
  }
  return Result.succeed(out)
}
