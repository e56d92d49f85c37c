/**
 * DATA content reader (RFC 5321 §4.1.1.4, §4.5.2): finds the `CRLF . CRLF` terminator and removes
 * the dot-stuffing, incrementally, whatever the chunking. Only CRLF ends a line: a bare LF or CR is
 * content, so `LF . LF` or `LF . CRLF` never ends the message (RFC 5321 §2.3.8; the "SMTP
 * smuggling" ambiguity). The content keeps the CRLF of its last line, as received.
 *
 * @internal
 */

export interface Pushed {
  /** Bytes of the chunk that belong to the DATA transfer (all of them unless `done`). */
  readonly consumed: number
  /** The terminator has been read. */
  readonly done: boolean
}

export interface DotDecoder {
  /** Feeds the next chunk; unstuffed content goes to the sink given to `make`. */
  readonly push: (chunk: Uint8Array) => Pushed
}

const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e

// Where the decoder stands between two bytes.
const LINE_START = 0 // after CRLF (or at the start of the content)
const IN_LINE = 1
const AFTER_CR = 2 // after a CR inside a line
const DOT_FIRST = 3 // a line started with "." (held back)
const DOT_CR = 4 // a line started with ".\r" (both held back)

const heldCr = Uint8Array.of(CR)

/**
 * `sink` receives views of the input chunks (no copies); it is called in order.
 */
export const make = (sink: (bytes: Uint8Array) => void): DotDecoder => {
  let state = LINE_START
  return {
    push: (chunk) => {
      let start = 0 // first byte of the current run to emit
      let i = 0
      const emit = (end: number) => {
        if (end > start) sink(chunk.subarray(start, end))
      }
      while (i < chunk.length) {
        const byte = chunk[i]!
        switch (state) {
          case LINE_START: {
            if (byte === DOT) {
              emit(i)
              start = i + 1
              state = DOT_FIRST
            } else {
              state = byte === CR ? AFTER_CR : IN_LINE
            }
            i++
            break
          }
          case IN_LINE: {
            const cr = chunk.indexOf(CR, i)
            if (cr === -1) {
              i = chunk.length
            } else {
              i = cr + 1
              state = AFTER_CR
            }
            break
          }
          case AFTER_CR: {
            state = byte === LF ? LINE_START : byte === CR ? AFTER_CR : IN_LINE
            i++
            break
          }
          case DOT_FIRST: {
            // RFC 5321 §4.5.2: a leading dot with more on the line is removed.
            if (byte === CR) {
              state = DOT_CR
              start = i + 1
            } else {
              start = i
              state = IN_LINE
            }
            i++
            break
          }
          case DOT_CR: {
            if (byte === LF) return { consumed: i + 1, done: true }
            // ".\r" then something else: the dot goes, the CR is content.
            sink(heldCr)
            start = i
            state = byte === CR ? AFTER_CR : IN_LINE
            i++
            break
          }
        }
      }
      if (state !== DOT_FIRST && state !== DOT_CR) emit(chunk.length)
      return { consumed: chunk.length, done: false }
    }
  }
}
