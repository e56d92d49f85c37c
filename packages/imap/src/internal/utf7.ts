/**
 * Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3, kept by RFC 9051 §5.1 for IMAP4rev1
 * compatibility). Printable US-ASCII except "&" stands for itself, "&" is "&-", and every other
 * run of UTF-16 code units is "&" + modified BASE64 (RFC 2045 alphabet with "," for "/", no
 * padding) + "-".
 *
 * The decoder is strict: it accepts only the one canonical encoding of a string (no encoded
 * printable ASCII, no adjacent shifts, no empty shift other than "&-", zero padding bits, no lone
 * surrogates), so a name has exactly one wire form.
 *
 * @internal
 */
import * as Result from "effect/Result"

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

const VALUES: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1)
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i
  return table
})()

const AMP = 0x26
const DASH = 0x2d

// RFC 3501 §5.1.3: characters 0x20-0x25 and 0x27-0x7e represent themselves.
const isDirect = (c: number): boolean => c >= 0x20 && c <= 0x7e && c !== AMP

/** Encodes any string (its UTF-16 code units) to modified UTF-7. */
export const encode = (text: string): string => {
  let out = ""
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (isDirect(c)) {
      let j = i + 1
      while (j < n && isDirect(text.charCodeAt(j))) j++
      out += text.slice(i, j)
      i = j
      continue
    }
    if (c === AMP) {
      out += "&-"
      i++
      continue
    }
    // A run of code units that are not directly representable, as one shift.
    out += "&"
    let bits = 0
    let buffer = 0
    while (i < n) {
      const unit = text.charCodeAt(i)
      if (isDirect(unit) || unit === AMP) break
      buffer = (buffer << 16) | unit
      bits += 16
      while (bits >= 6) {
        bits -= 6
        out += ALPHABET[(buffer >> bits) & 0x3f]
      }
      buffer &= (1 << bits) - 1
      i++
    }
    if (bits > 0) out += ALPHABET[(buffer << (6 - bits)) & 0x3f]
    out += "-"
  }
  return out
}

/** Decodes canonical modified UTF-7; the failure is a short description of what is wrong. */
export const decode = (wire: string): Result.Result<string, string> => {
  let out = ""
  let i = 0
  const n = wire.length
  let previousShiftEnd = -1
  while (i < n) {
    const c = wire.charCodeAt(i)
    if (c !== AMP) {
      if (!isDirect(c)) return Result.fail(`character 0x${c.toString(16)} must be encoded`)
      out += wire[i]
      i++
      continue
    }
    if (i + 1 < n && wire.charCodeAt(i + 1) === DASH) {
      out += "&"
      i += 2
      continue
    }
    if (previousShiftEnd === i) return Result.fail("adjacent encoded runs must be merged")
    i++
    let bits = 0
    let buffer = 0
    let units = 0
    let closed = false
    while (i < n) {
      const d = wire.charCodeAt(i)
      if (d === DASH) {
        closed = true
        i++
        break
      }
      const value = d < 128 ? VALUES[d]! : -1
      if (value < 0) return Result.fail(`invalid base64 character 0x${d.toString(16)}`)
      i++
      buffer = (buffer << 6) | value
      bits += 6
      if (bits >= 16) {
        bits -= 16
        const unit = (buffer >> bits) & 0xffff
        buffer &= (1 << bits) - 1
        if (isDirect(unit) || unit === AMP) return Result.fail("printable ASCII must not be encoded")
        if (unit >= 0xdc00 && unit <= 0xdfff) {
          const last = out.length > 0 ? out.charCodeAt(out.length - 1) : 0
          if (units === 0 || !(last >= 0xd800 && last <= 0xdbff)) return Result.fail("lone low surrogate")
        } else if (units > 0) {
          const last = out.charCodeAt(out.length - 1)
          if (last >= 0xd800 && last <= 0xdbff) return Result.fail("lone high surrogate")
        }
        out += String.fromCharCode(unit)
        units++
      }
    }
    if (!closed) return Result.fail("unterminated encoded run")
    if (units === 0) return Result.fail("empty encoded run")
    if (bits >= 6 || buffer !== 0) return Result.fail("non-zero or excess padding bits")
    const last = out.charCodeAt(out.length - 1)
    if (last >= 0xd800 && last <= 0xdbff) return Result.fail("lone high surrogate")
    previousShiftEnd = i
  }
  return Result.succeed(out)
}
