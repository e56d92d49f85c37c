import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import { TextDecoder } from "node:util"
import { decodeEncodedWords } from "../src/internal/rfc2047.ts"

/**
 * The model: RFC 2047 decoding written the plain way, with a regular expression, a fresh Buffer per
 * word and a TextDecoder per run. The decoder under test finds words by hand and decodes into a
 * reused buffer; on every input the two must give the same string.
 */
const model = (s: string): string => {
  const word = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g
  const hex = (c: string): number => (/^[0-9A-Fa-f]$/.test(c) ? Number.parseInt(c, 16) : -1)
  const q = (text: string): Uint8Array => {
    const out: Array<number> = []
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!
      if (c === "_") out.push(0x20)
      else if (c === "=" && i + 2 < text.length && hex(text[i + 1]!) >= 0 && hex(text[i + 2]!) >= 0) {
        out.push(hex(text[i + 1]!) * 16 + hex(text[i + 2]!))
        i += 2
      } else out.push(text.charCodeAt(i) & 0xff)
    }
    return Uint8Array.from(out)
  }
  const decode = (charset: string, parts: Array<Uint8Array>, raw: string): string => {
    const bytes = Buffer.concat(parts)
    if (charset === "utf-8" || charset === "utf8") return bytes.toString("utf8")
    try {
      return new TextDecoder(charset).decode(bytes)
    } catch {
      return raw
    }
  }
  let out = ""
  let last = 0
  let run: { charset: string; parts: Array<Uint8Array>; raw: string } | undefined
  for (const m of s.matchAll(word)) {
    const gap = s.slice(last, m.index)
    const charset = m[1]!.toLowerCase().split("*")[0]!
    const bytes = /^[Bb]$/.test(m[2]!) ? Buffer.from(m[3]!, "base64") : q(m[3]!)
    if (run !== undefined && /^[ \t\r\n]*$/.test(gap) && run.charset === charset) {
      run.parts.push(bytes)
      run.raw += gap + m[0]
    } else {
      if (run !== undefined) out += decode(run.charset, run.parts, run.raw)
      if (run === undefined || !/^[ \t\r\n]*$/.test(gap)) out += gap
      run = { charset, parts: [bytes], raw: m[0] }
    }
    last = m.index + m[0].length
  }
  if (run !== undefined) out += decode(run.charset, run.parts, run.raw)
  return out + s.slice(last)
}

// Pieces that make words, near-words and the text between them.
const piece = fc.oneof(
  fc.constantFrom(
    "=?",
    "?=",
    "?",
    "=",
    "UTF-8",
    "utf-8",
    "utf8",
    "UTF-8*en",
    "iso-8859-2",
    "windows-1251",
    "koi8-r",
    "x-unknown",
    "?B?",
    "?b?",
    "?Q?",
    "?q?",
    "?X?",
    "4pg=",
    "lQ==",
    "z/Do4uXy",
    "YQ==YQ==",
    "=C3=A9",
    "=F0=D2",
    "=G1",
    "_",
    " ",
    "\t",
    "\r\n",
    "\u00a0",
    "\u2003",
    "caf\u00e9",
    "\u2615"
  ),
  fc.string({ maxLength: 4 })
)

const word = fc
  .tuple(
    fc.constantFrom("UTF-8", "utf-8", "iso-8859-1", "koi8-r", "x-unknown", "UTF-8*de"),
    fc.constantFrom("B", "b", "Q", "q"),
    fc.uint8Array({ maxLength: 12 })
  )
  .map(([charset, encoding, bytes]) => {
    const text = encoding === "B" || encoding === "b"
      ? Buffer.from(bytes).toString("base64")
      : [...bytes].map((b) => (b === 0x20 ? "_" : `=${b.toString(16).padStart(2, "0").toUpperCase()}`)).join("")
    return `=?${charset}?${encoding}?${text}?=`
  })

describe("RFC 2047 decoding", () => {
  it("known words", () => {
    assert.strictEqual(decodeEncodedWords("=?UTF-8?B?4pg=?= =?UTF-8?B?lQ==?="), "\u2615")
    assert.strictEqual(decodeEncodedWords("=?windows-1251?B?z/Do4uXy?="), "Привет")
    assert.strictEqual(decodeEncodedWords("=?UTF-8?Q?caf=C3=A9?= =?iso-8859-1?Q?=E9?="), "café" + "é")
    assert.strictEqual(decodeEncodedWords("=?x-unknown?Q?abc?=  =?x-unknown?Q?d?= x"), "=?x-unknown?Q?abc?=  =?x-unknown?Q?d?= x")
    assert.strictEqual(decodeEncodedWords("=?=?UTF-8?Q?a?="), "=?a")
    assert.strictEqual(decodeEncodedWords("=?UTF 8?Q?a?="), "=?UTF 8?Q?a?=")
  })

  it("any JavaScript whitespace ends a charset or a text: no word then", () => {
    for (const space of ["\t", "\n", "\u000b", "\f", "\r", " ", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff"]) {
      for (const s of [`=?UTF-8${space}?Q?a?=`, `=?UTF-8?Q?a${space}b?=`]) {
        assert.strictEqual(decodeEncodedWords(s), s)
        assert.strictEqual(model(s), s)
      }
    }
    // U+200B is not \s: the word stands (Q takes each char's low byte, as the model does)
    assert.strictEqual(decodeEncodedWords("=?UTF-8?Q?a\u200bb?="), "a\u000bb")
  })

  it("a long input is decoded in a buffer of its own, and the next input decodes the same", () => {
    const long = Array.from({ length: 20_000 }, (_, i) => `=?UTF-8?B?${Buffer.from(`w${i}`).toString("base64")}?=`).join(" ")
    assert.strictEqual(decodeEncodedWords(long), model(long))
    assert.strictEqual(decodeEncodedWords("=?UTF-8?B?4pg=?= =?UTF-8?B?lQ==?="), "\u2615")
  })

  it("property: the same as the regular-expression model on any mix of words and text", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(piece, word), { maxLength: 14 }), (parts) => {
        const s = parts.join("")
        assert.strictEqual(decodeEncodedWords(s), model(s))
      }),
      { numRuns: 3000 }
    )
  })
})
