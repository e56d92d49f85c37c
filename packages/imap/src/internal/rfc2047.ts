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

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g
const BLANK = /^[ \t\r\n]*$/

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

// RFC 2047 §4.2: "_" is SP, "=XX" a byte, anything else stands for itself.
const qBytes = (text: string): Uint8Array => {
  const out = Buffer.allocUnsafe(text.length)
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x5f) out[n++] = 0x20
    else if (c === 0x3d && i + 2 < text.length && hex(text.charCodeAt(i + 1)) >= 0 && hex(text.charCodeAt(i + 2)) >= 0) {
      out[n++] = hex(text.charCodeAt(i + 1)) * 16 + hex(text.charCodeAt(i + 2))
      i += 2
    } else out[n++] = c & 0xff
  }
  return out.subarray(0, n)
}

/** Decodes the encoded-words of an unstructured header value; other text is kept. */
export const decodeEncodedWords = (s: string): string => {
  if (s.indexOf("=?") < 0) return s
  let out = ""
  let last = 0
  let charset = ""
  let raw = ""
  let parts: Array<Uint8Array> = []
  const flush = (): void => {
    if (raw === "") return
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    if (charset === "utf-8" || charset === "utf8") out += Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")
    else {
      const decoder = decoderFor(charset)
      out += decoder === null ? raw : decoder.decode(bytes)
    }
    raw = ""
    parts = []
  }
  for (const m of s.matchAll(ENCODED_WORD)) {
    const gap = s.slice(last, m.index)
    const label = m[1]!.toLowerCase()
    const star = label.indexOf("*")
    const wordCharset = star < 0 ? label : label.slice(0, star)
    if (raw !== "" && BLANK.test(gap)) {
      if (wordCharset !== charset) flush()
    } else {
      flush()
      out += gap
    }
    charset = wordCharset
    raw += raw === "" ? m[0] : gap + m[0]
    parts.push(m[2] === "B" || m[2] === "b" ? Buffer.from(m[3]!, "base64") : qBytes(m[3]!))
    last = m.index + m[0].length
  }
  flush()
  return out + s.slice(last)
}
