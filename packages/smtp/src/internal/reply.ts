/**
 * Shared by the reply model (`SmtpReply`) and the reply parser (`SmtpProtocol`): severity by first
 * digit and RFC 3463 enhanced status code recognition, written for the parser's hot path (plain
 * `charCodeAt` checks, no regular expressions, no allocation unless a code is found).
 *
 * @internal
 */
import type { EnhancedStatusCode, Severity, SmtpReply } from "../SmtpReply.ts"

/** RFC 5321 §4.2.1: severity by the first digit of the reply code (index = digit). */
export const severities: ReadonlyArray<Severity | undefined> = [
  undefined,
  undefined,
  "PositiveCompletion",
  "PositiveIntermediate",
  "TransientNegative",
  "PermanentNegative"
]

const DOT = 46
const SP = 32
const ZERO = 48

// Subject and detail of the last code `enhancedAt` recognised (scratch slots: no allocation).
let lastSubject = 0
let lastDetail = 0

// RFC 3463 §2: subject and detail are 1 to 3 digits, without leading zeros ("0" itself is fine).
// Reads one at s[i..end); returns the index after it, or -1.
const number = (s: string, i: number, end: number, subject: boolean): number => {
  if (i >= end) return -1
  let value = s.charCodeAt(i) - ZERO
  if (!(value >= 0 && value <= 9)) return -1
  let j = i + 1
  if (value !== 0) {
    while (j < end && j < i + 3) {
      const d = s.charCodeAt(j) - ZERO
      if (!(d >= 0 && d <= 9)) break
      value = value * 10 + d
      j++
    }
  }
  if (subject) lastSubject = value
  else lastDetail = value
  return j
}

/**
 * Length of the RFC 3463 enhanced status code at s[i..end) whose class is `digit` (2, 4 or 5), or
 * 0 when there is none. The code must be followed by SP or end the text (RFC 2034 §4 puts a space
 * after it; a line holding only the code is accepted too). Works on the parser's chunk string
 * directly, so the text is sliced once.
 */
export const enhancedAt = (s: string, i: number, end: number, digit: number): number => {
  if (end - i < 5 || s.charCodeAt(i) - ZERO !== digit || s.charCodeAt(i + 1) !== DOT) return 0
  const afterSubject = number(s, i + 2, end, true)
  if (afterSubject === -1 || afterSubject >= end || s.charCodeAt(afterSubject) !== DOT) return 0
  const afterDetail = number(s, afterSubject + 1, end, false)
  if (afterDetail === -1 || (afterDetail < end && s.charCodeAt(afterDetail) !== SP)) return 0
  return afterDetail - i
}

/** The code `enhancedAt` just recognised. */
export const lastEnhanced = (digit: 2 | 4 | 5): EnhancedStatusCode => ({
  class: digit,
  subject: lastSubject,
  detail: lastDetail
})

/** Length of the enhanced status code at the start of `text`, or 0 (see `enhancedAt`). */
export const enhancedLength = (text: string, digit: number): number => enhancedAt(text, 0, text.length, digit)

// Removes `code` (and the SP after it) from the start of `line` when it is there.
const strip = (line: string, code: string): string =>
  line.startsWith(code) && (line.length === code.length || line.charCodeAt(code.length) === SP)
    ? line.slice(code.length + 1)
    : line

/**
 * Builds a reply from a validated code (200-599) and the texts of its lines as received (after
 * the code and separator). The enhanced status code is taken from the first line only when its
 * class equals the reply's first digit (RFC 3463 §2: 3yz replies carry none); the same code is
 * then removed from the start of every line that repeats it (RFC 2034 §4 prefixes every line).
 */
export const fromWire = (code: number, texts: Array<string>): SmtpReply => {
  const digit = (code / 100) | 0
  const severity = severities[digit]!
  if (digit === 3) return { code, severity, enhanced: undefined, lines: texts }
  const first = texts[0]!
  const length = enhancedLength(first, digit)
  if (length === 0) return { code, severity, enhanced: undefined, lines: texts }
  const enhanced = lastEnhanced(digit as 2 | 4 | 5)
  texts[0] = length === first.length ? "" : first.slice(length + 1)
  if (texts.length > 1) {
    const prefix = first.slice(0, length)
    for (let i = 1; i < texts.length; i++) texts[i] = strip(texts[i]!, prefix)
  }
  return { code, severity, enhanced, lines: texts }
}
