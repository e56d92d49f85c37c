/**
 * Message bytes for the fake POP3 server: CRLF normalization at ingest, UID checks, and the pieces
 * of a dot-stuffed multi-line body (RFC 1939 §3) as views into the message, so a big message is
 * never copied whole to be sent.
 *
 * @internal
 */

const LF = 0x0a
const CR = 0x0d
const DOT = 0x2e
const CRLF = new Uint8Array([CR, LF])
const DOT_ONLY = new Uint8Array([DOT])
const LF_DOT = Buffer.from([LF, DOT])
const HEADER_END = Buffer.from([CR, LF, CR, LF])

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * Every line ends in CRLF: a bare LF becomes CRLF and a missing final line ending is added (so the
 * size is the exact octet count of what RETR sends before stuffing). Returns the input itself when
 * nothing changes.
 */
export const normalize = (bytes: Uint8Array): Uint8Array => {
  if (bytes.length === 0) return bytes
  const buffer = asBuffer(bytes)
  const parts: Array<Uint8Array> = []
  let start = 0
  let lf = buffer.indexOf(LF)
  while (lf !== -1) {
    if (lf === 0 || buffer[lf - 1] !== CR) {
      parts.push(bytes.subarray(start, lf), CRLF)
      start = lf + 1
    }
    lf = buffer.indexOf(LF, lf + 1)
  }
  const endsWithLf = bytes[bytes.length - 1] === LF
  if (parts.length === 0 && endsWithLf) return bytes
  parts.push(bytes.subarray(start))
  if (!endsWithLf) parts.push(bytes[bytes.length - 1] === CR ? new Uint8Array([LF]) : CRLF)
  return new Uint8Array(Buffer.concat(parts))
}

/** RFC 1939 §7 unique-id: 1 to 70 characters in 0x21-0x7E. */
export const validUid = (uid: string): boolean => /^[\x21-\x7e]{1,70}$/.test(uid)

/**
 * The dot-stuffed pieces of a body (RFC 1939 §3: a line starting with "." gets one more "."),
 * views into `bytes` and shared one-byte arrays. `bytes` ends in CRLF or is empty.
 */
export const stuffed = (bytes: Uint8Array): Array<Uint8Array> => {
  const pieces: Array<Uint8Array> = []
  const buffer = asBuffer(bytes)
  let start = 0
  if (bytes[0] === DOT) pieces.push(DOT_ONLY)
  let hit = buffer.indexOf(LF_DOT)
  while (hit !== -1) {
    // The "." after this LF starts a line: emit up to and including the LF, then the extra ".".
    pieces.push(bytes.subarray(start, hit + 1), DOT_ONLY)
    start = hit + 1
    hit = buffer.indexOf(LF_DOT, hit + 1)
  }
  if (start < bytes.length) pieces.push(bytes.subarray(start))
  return pieces
}

/**
 * RFC 1939 §7 TOP: the header, the blank line after it, and at most `lines` lines of the body, as a
 * prefix of the message. A message without a blank line is all header.
 */
export const topPrefix = (bytes: Uint8Array, lines: number): Uint8Array => {
  const buffer = asBuffer(bytes)
  let end: number
  if (bytes[0] === CR && bytes[1] === LF) {
    end = 2
  } else {
    const blank = buffer.indexOf(HEADER_END)
    if (blank === -1) return bytes
    end = blank + 4
  }
  for (let i = 0; i < lines && end < bytes.length; i++) {
    const lf = buffer.indexOf(LF, end)
    end = lf === -1 ? bytes.length : lf + 1
  }
  return bytes.subarray(0, end)
}
