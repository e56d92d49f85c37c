/**
 * What the client needs to know about a message body before the MAIL command (RFC 6152 8BITMIME,
 * RFC 3030 BINARYMIME, RFC 6531 SMTPUTF8, RFC 1870 SIZE), and the line-ending normaliser used for
 * text bodies sent with BDAT (DATA bodies go through `DotStuffing`, which normalises too).
 *
 * @internal
 */
import { isAscii } from "node:buffer"

const CR = 13
const LF = 10

export interface Analysis {
  /** A byte >= 0x80 (needs 8BITMIME, RFC 6152). */
  readonly eightBit: boolean
  /** A NUL byte: not text at all (needs BINARYMIME, RFC 3030 §3). */
  readonly nul: boolean
  /** A byte >= 0x80 in the header section (RFC 6532 headers: SMTPUTF8). */
  readonly eightBitHeaders: boolean
  /** Octets on the wire as text: bare CR and LF become CRLF, and an unfinished last line gets CRLF. */
  readonly textSize: number
  /** Whether the bytes are already canonical text (only CRLF line ends, ending with CRLF or empty). */
  readonly canonical: boolean
}

const headerEnd = (bytes: Uint8Array): number => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const crlf = buffer.indexOf("\r\n\r\n")
  const lf = buffer.indexOf("\n\n")
  if (crlf === -1) return lf === -1 ? bytes.length : lf
  return lf === -1 ? crlf : Math.min(crlf, lf)
}

/** One pass of native searches: fast enough to run on every message. */
export const analyze = (bytes: Uint8Array): Analysis => {
  const eightBit = !isAscii(bytes)
  let bare = 0
  let at = bytes.indexOf(LF)
  while (at !== -1) {
    if (at === 0 || bytes[at - 1] !== CR) bare++
    at = bytes.indexOf(LF, at + 1)
  }
  at = bytes.indexOf(CR)
  while (at !== -1) {
    if (at + 1 === bytes.length || bytes[at + 1] !== LF) bare++
    at = bytes.indexOf(CR, at + 1)
  }
  const last = bytes.length === 0 ? LF : bytes[bytes.length - 1]!
  const unfinished = last !== LF && last !== CR
  return {
    eightBit,
    nul: bytes.indexOf(0) !== -1,
    eightBitHeaders: eightBit && !isAscii(bytes.subarray(0, headerEnd(bytes))),
    textSize: bytes.length + bare + (unfinished ? 2 : 0),
    canonical: bare === 0 && !unfinished
  }
}

/** Whether a chunk has a byte >= 0x80. */
export const hasEightBit = (chunk: Uint8Array): boolean => !isAscii(chunk)

const CRLF = Uint8Array.of(CR, LF)
const LF_ONLY = Uint8Array.of(LF)

/**
 * Turns bare CR and bare LF into CRLF (RFC 5321 §2.3.8) across chunk boundaries; `end()` completes
 * an unfinished last line. Output chunks are views of the input plus shared constants.
 */
export interface Normalizer {
  readonly push: (chunk: Uint8Array) => ReadonlyArray<Uint8Array>
  readonly end: () => ReadonlyArray<Uint8Array>
}

export const makeNormalizer = (): Normalizer => {
  // The last byte pushed was a CR whose successor is not known yet.
  let pendingCr = false
  // Nothing pushed yet, or the last line is complete.
  let lineDone = true

  const push = (chunk: Uint8Array): ReadonlyArray<Uint8Array> => {
    const n = chunk.length
    if (n === 0) return []
    const out: Array<Uint8Array> = []
    let start = 0
    let i = 0
    if (pendingCr) {
      pendingCr = false
      if (chunk[0] === LF) i = 1
      else out.push(LF_ONLY)
    }
    while (i < n) {
      const cr = chunk.indexOf(CR, i)
      const lf = chunk.indexOf(LF, i)
      if (cr === -1 && lf === -1) break
      if (lf === -1 || (cr !== -1 && cr < lf)) {
        if (cr + 1 === n) {
          pendingCr = true
          i = n
        } else if (chunk[cr + 1] === LF) {
          i = cr + 2
        } else {
          out.push(chunk.subarray(start, cr + 1), LF_ONLY)
          start = i = cr + 1
        }
      } else {
        if (lf > start) out.push(chunk.subarray(start, lf))
        out.push(CRLF)
        start = i = lf + 1
      }
    }
    if (start < n) out.push(chunk.subarray(start, n))
    const last = chunk[n - 1]!
    lineDone = last === LF || last === CR
    return out
  }

  const end = (): ReadonlyArray<Uint8Array> => {
    const out = pendingCr ? [LF_ONLY] : lineDone ? [] : [CRLF]
    pendingCr = false
    lineDone = true
    return out
  }

  return { push, end }
}
