/**
 * RFC 2047 encoded-word decoding for ENVELOPE subjects and address names.
 *
 * `=?charset?B|Q?text?=` words are decoded with the platform TextDecoder (UTF-8, ISO-8859-x,
 * windows-125x, KOI8, GB/Big5/Shift_JIS/ISO-2022-JP/EUC ... whatever the WHATWG Encoding Standard
 * labels cover); RFC 2231 language suffixes (`utf-8*en`) are ignored. Whitespace between adjacent
 * encoded words is dropped (RFC 2047 §6.2), and adjacent words in the same charset are decoded
 * together so a multi-byte character split across two words survives. A word in an unknown charset
 * is left as sent.
 */
import { Buffer } from "node:buffer"
import { TextDecoder } from "node:util"
import { base64Write, utf8Slice } from "./buffers.ts"

const decoders = new Map<string, TextDecoder | null>()

const decoderFor = (label: string): TextDecoder | null => {
  const cached = decoders.get(label)
  if (cached !== undefined) return cached
  let decoder: TextDecoder | null = null
  try {
    decoder = new TextDecoder(label)
  } catch {
    decoder = null // unknown label (RangeError): keep the word as sent
  }
  if (decoders.size < 64) decoders.set(label, decoder)
  return decoder
}

const hex = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1

/** `\s` of a JavaScript regular expression (what ends a charset or an encoded text). */
const isSpace = (c: number): boolean =>
  c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x80 &&
    (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f ||
      c === 0x205f || c === 0x3000 || c === 0xfeff))

/** Whether `s[a, b)` is only whitespace (RFC 2047 §6.2: dropped between adjacent encoded words). */
const blank = (s: string, a: number, b: number): boolean => {
  for (let k = a; k < b; k++) {
    const c = s.charCodeAt(k)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false
  }
  return true
}

/** Decoded bytes of the run of words under way, in a buffer kept between calls (a run's bytes are
 * never more than its text's length: sized for the whole input first). */
let scratch = Buffer.allocUnsafe(1024)
const SCRATCH_KEPT = 64 * 1024

/** The words `=?charset?B|Q?text?=` of an input, found without a regular expression. */
interface Word {
  /** Where `=?` is, where the charset ends ("?"), the encoding char, where the text ends ("?"). */
  start: number
  charsetEnd: number
  textEnd: number
}

const word: Word = { start: 0, charsetEnd: 0, textEnd: 0 }

/** Finds the next word at or after `from` into `word`; false when there is none. */
const nextWord = (s: string, from: number): boolean => {
  let start = s.indexOf("=?", from)
  while (start >= 0) {
    let k = start + 2
    for (;;) {
      const c = s.charCodeAt(k)
      if (c !== c || c === 0x3f || isSpace(c)) break // NaN: the end
      k++
    }
    const charsetEnd = k
    const e = s.charCodeAt(k + 1) | 0x20
    if (charsetEnd > start + 2 && s.charCodeAt(k) === 0x3f && (e === 0x62 || e === 0x71) && s.charCodeAt(k + 2) === 0x3f) {
      k += 3
      for (;;) {
        const c = s.charCodeAt(k)
        if (c !== c || c === 0x3f || isSpace(c)) break
        k++
      }
      if (s.charCodeAt(k) === 0x3f && s.charCodeAt(k + 1) === 0x3d) {
        word.start = start
        word.charsetEnd = charsetEnd
        word.textEnd = k
        return true
      }
    }
    start = s.indexOf("=?", start + 1)
  }
  return false
}

/** The charset of a word, lowercased, without an RFC 2231 language suffix. */
const charsetOf = (s: string, a: number, b: number): string => {
  const star = s.indexOf("*", a)
  const label = s.slice(a, star >= 0 && star < b ? star : b)
  return label === "UTF-8" || label === "utf-8" ? "utf-8" : label.toLowerCase()
}

/** Appends the bytes of a word's text to `buf` at `fill`; returns the new fill. */
const wordBytes = (buf: Buffer, fill: number, s: string, encoding: number, a: number, b: number): number => {
  if (encoding === 0x62) return fill + base64Write(buf, s.slice(a, b), fill)
  // RFC 2047 §4.2: "_" is SP, "=XX" a byte, anything else stands for itself.
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x5f) buf[fill++] = 0x20
    else if (c === 0x3d && i + 2 < b && hex(s.charCodeAt(i + 1)) >= 0 && hex(s.charCodeAt(i + 2)) >= 0) {
      buf[fill++] = hex(s.charCodeAt(i + 1)) * 16 + hex(s.charCodeAt(i + 2))
      i += 2
    } else buf[fill++] = c & 0xff
  }
  return fill
}

/** The text of a run of adjacent words in one charset: their bytes decoded together, or the words
 * as sent (`raw`) when the charset is unknown. */
const decodeRun = (charset: string, buf: Buffer, fill: number, raw: string): string => {
  if (charset === "utf-8" || charset === "utf8") return utf8Slice(buf, 0, fill)
  const decoder = decoderFor(charset)
  return decoder === null ? raw : decoder.decode(buf.subarray(0, fill))
}

/** Decodes the encoded-words of an unstructured header value; other text is kept. */
export const decodeEncodedWords = (s: string): string => {
  if (!nextWord(s, 0)) return s
  if (s.length > scratch.length) {
    const bigger = Buffer.allocUnsafe(s.length)
    if (s.length <= SCRATCH_KEPT) scratch = bigger
    return decodeWords(s, bigger)
  }
  return decodeWords(s, scratch)
}

/** Decodes from the word `nextWord` found; `buf` holds at least `s.length` bytes. */
const decodeWords = (s: string, buf: Buffer): string => {
  let out = ""
  let last = 0 // end of the last word
  let charset = "" // of the pending run of words
  let runStart = -1 // where the pending run starts in s (its raw text is s[runStart, last))
  let fill = 0 // its bytes in buf
  do {
    const at = word.start
    const wordCharset = charsetOf(s, at + 2, word.charsetEnd)
    if (runStart >= 0 && blank(s, last, at)) {
      if (wordCharset !== charset) {
        out += decodeRun(charset, buf, fill, s.slice(runStart, last))
        fill = 0
        runStart = at
      }
    } else {
      if (runStart >= 0) {
        out += decodeRun(charset, buf, fill, s.slice(runStart, last))
        fill = 0
      }
      out += s.slice(last, at)
      runStart = at
    }
    charset = wordCharset
    fill = wordBytes(buf, fill, s, s.charCodeAt(word.charsetEnd + 1) | 0x20, word.charsetEnd + 3, word.textEnd)
    last = word.textEnd + 2
  } while (nextWord(s, last))
  out += decodeRun(charset, buf, fill, s.slice(runStart, last))
  return out + s.slice(last)
}
