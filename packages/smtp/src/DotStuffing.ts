/**
 * The DATA body transparency procedure (RFC 5321 §4.5.2), as chunk-boundary-safe state machines.
 *
 * - `makeStuffer`: the client side. Every line that starts with "." gets a second "." and `end()`
 *   gives the terminator, so no body can end the mail data early (or smuggle a second message).
 *   Output chunks are views of the input between the points where something is inserted; nothing
 *   is copied and memory is constant whatever the body size.
 * - `makeUnstuffer`: the receiving side (tests and in-memory servers): removes the extra dots and
 *   finds the end of data `CRLF.CRLF`, with the same chunk safety.
 *
 * Line endings. RFC 5321 §2.3.8: a client MUST NOT send a bare CR or LF, only CRLF. With
 * `normalizeLineEndings` (the default), the stuffer turns every bare LF and bare CR into CRLF, so
 * the bytes on the wire always follow the RFC and the server's reading of line ends cannot differ
 * from ours (the root of SMTP smuggling). With `normalizeLineEndings: false` the body is sent as
 * given, for callers that already hold canonical CRLF text; then a "." after ANY CR or LF is
 * doubled, so even a bare line ending in the input cannot form an end-of-data sequence for a
 * server that accepts one (`\n.\n`, `\r.\r`, ...). Such bodies do not round-trip through an RFC
 * unstuffer (it only recognises CRLF), which is the price of sending bare line endings at all.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"

const CR = 13
const LF = 10
const DOT = 46

const CR_BYTES = Uint8Array.of(CR)
const LF_BYTES = Uint8Array.of(LF)
const CRLF_BYTES = Uint8Array.of(CR, LF)
const END_AFTER_CRLF = Uint8Array.of(DOT, CR, LF)
const END_AFTER_CR = Uint8Array.of(LF, DOT, CR, LF)
const END_MID_LINE = Uint8Array.of(CR, LF, DOT, CR, LF)

/**
 * @category models
 * @since 0.1.0
 */
export interface StufferOptions {
  /** Turn bare LF and bare CR into CRLF (default `true`, RFC 5321 §2.3.8). */
  readonly normalizeLineEndings?: boolean
}

/**
 * A dot-stuffing encoder for one DATA body at a time.
 *
 * - `push(chunk)`: the bytes to send for `chunk`: views of it (so do not modify `chunk` until they
 *   are written) and small shared constants (never modify those).
 * - `end()`: the end-of-data sequence for what was pushed: `.CRLF` when the body is empty or ended
 *   with CRLF, else `CRLF.CRLF` (the body's last line is completed). The stuffer is then ready for
 *   the next body.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stuffer {
  readonly push: (chunk: Uint8Array) => ReadonlyArray<Uint8Array>
  readonly end: () => Uint8Array
}

const indexOr = (chunk: Uint8Array, byte: number, from: number): number => {
  const i = chunk.indexOf(byte, from)
  return i === -1 ? chunk.length : i
}

/**
 * Creates a dot-stuffing encoder.
 *
 * @example
 * ```ts
 * import * as DotStuffing from "@starttls/smtp/DotStuffing"
 *
 * const stuffer = DotStuffing.makeStuffer()
 * const parts = [...stuffer.push(new TextEncoder().encode("Hi\n.\nbye")), stuffer.end()]
 * // "Hi\r\n..\r\nbye" + "\r\n.\r\n"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeStuffer = (options?: StufferOptions): Stuffer => {
  const normalize = options?.normalizeLineEndings ?? true
  // The next byte starts a line (a "." there is doubled).
  let lineStart = true
  // normalize: the last byte sent was a CR whose successor is not known yet.
  let pendingCr = false
  let sent = false
  // Last two input bytes (pass-through mode decides the terminator from them).
  let last = -1
  let beforeLast = -1

  const push = (chunk: Uint8Array): ReadonlyArray<Uint8Array> => {
    const n = chunk.length
    if (n === 0) return []
    sent = true
    const out: Array<Uint8Array> = []
    let start = 0
    let i = 0
    if (pendingCr) {
      pendingCr = false
      if (chunk[0] === LF) i = 1
      else out.push(LF_BYTES)
    }
    let nextCr = -1
    let nextLf = -1
    while (i < n) {
      if (lineStart) {
        lineStart = false
        if (chunk[i] === DOT) {
          // Send up to and including the dot, and start the next view at the same dot: it goes twice.
          out.push(chunk.subarray(start, i + 1))
          start = i
        }
      }
      if (nextCr < i) nextCr = indexOr(chunk, CR, i)
      if (nextLf < i) nextLf = indexOr(chunk, LF, i)
      if (nextCr >= n && nextLf >= n) break
      lineStart = true
      if (nextCr < nextLf) {
        const j = nextCr
        if (!normalize) {
          i = j + 1
        } else if (j + 1 === n) {
          pendingCr = true
          i = n
        } else if (chunk[j + 1] === LF) {
          i = j + 2
        } else {
          // Bare CR -> CRLF.
          out.push(chunk.subarray(start, j + 1), LF_BYTES)
          start = i = j + 1
        }
      } else {
        const j = nextLf
        if (normalize) {
          // Bare LF (a CRLF's LF is skipped in the CR branch) -> CRLF.
          if (j > start) out.push(chunk.subarray(start, j))
          out.push(CRLF_BYTES)
          start = j + 1
        }
        i = j + 1
      }
    }
    if (start < n) out.push(chunk.subarray(start, n))
    beforeLast = n >= 2 ? chunk[n - 2]! : last
    last = chunk[n - 1]!
    return out
  }

  const end = (): Uint8Array => {
    let terminator: Uint8Array
    if (normalize) {
      terminator = pendingCr ? END_AFTER_CR : !sent || lineStart ? END_AFTER_CRLF : END_MID_LINE
    } else {
      terminator = !sent || (beforeLast === CR && last === LF) ? END_AFTER_CRLF : END_MID_LINE
    }
    lineStart = true
    pendingCr = false
    sent = false
    last = -1
    beforeLast = -1
    return terminator
  }

  return { push, end }
}

/**
 * Dot-stuffs a whole body and appends the terminator, in one buffer.
 *
 * @category encoding
 * @since 0.1.0
 */
export const stuff = (body: Uint8Array, options?: StufferOptions): Uint8Array => {
  const stuffer = makeStuffer(options)
  return Buffer.concat([...stuffer.push(body), stuffer.end()])
}

/**
 * What one `push` of the unstuffer gives: the body bytes it contains (views of the input and
 * shared constants), whether the end of data was reached, and the bytes after the terminator
 * (the client's next commands; empty unless `done`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Unstuffed {
  readonly data: ReadonlyArray<Uint8Array>
  readonly done: boolean
  readonly rest: Uint8Array
}

/**
 * A DATA body decoder: `push` the bytes received after the 354 reply. After the terminator the
 * unstuffer starts over for the next body.
 *
 * @category models
 * @since 0.1.0
 */
export interface Unstuffer {
  readonly push: (chunk: Uint8Array) => Unstuffed
}

// Line start; mid-line; after a mid-line CR; after "." at line start; after ".\r" at line start.
const START = 0
const MID = 1
const AFTER_CR = 2
const AFTER_DOT = 3
const AFTER_DOT_CR = 4

const EMPTY = new Uint8Array(0)

/**
 * Creates a DATA body decoder (RFC 5321 §4.5.2): a line `.` ends the data; a line starting with
 * "." loses that first "." (`..x` → `.x`). Lines end only at CRLF: a bare CR or LF is text. The
 * body it returns includes the CRLF that ends its last line.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnstuffer = (): Unstuffer => {
  let state = START

  const push = (chunk: Uint8Array): Unstuffed => {
    const n = chunk.length
    const data: Array<Uint8Array> = []
    let start = 0
    let i = 0
    while (i < n) {
      const b = chunk[i]!
      switch (state) {
        case START:
          if (b === DOT) {
            if (i > start) data.push(chunk.subarray(start, i))
            start = i + 1
            state = AFTER_DOT
            i++
          } else {
            state = MID
          }
          break
        case MID: {
          const cr = chunk.indexOf(CR, i)
          if (cr === -1) {
            i = n
          } else {
            state = AFTER_CR
            i = cr + 1
          }
          break
        }
        case AFTER_CR:
          if (b === LF) {
            state = START
            i++
          } else {
            state = MID
          }
          break
        case AFTER_DOT:
          if (b === CR) {
            // Hold the CR back: with an LF it is part of the terminator.
            start = i + 1
            state = AFTER_DOT_CR
            i++
          } else {
            state = MID
          }
          break
        case AFTER_DOT_CR:
          if (b === LF) {
            state = START
            return { data, done: true, rest: chunk.subarray(i + 1) }
          }
          // ".\r" followed by more text: the dot is removed, the CR is text.
          data.push(CR_BYTES)
          state = AFTER_CR
          break
      }
    }
    if (start < n) data.push(chunk.subarray(start, n))
    return { data, done: false, rest: EMPTY }
  }

  return { push }
}

/**
 * Decodes a complete DATA transmission: the body, and the bytes after the terminator. Fails when
 * the input has no terminator.
 *
 * @category decoding
 * @since 0.1.0
 */
export const unstuff = (
  bytes: Uint8Array
): Result.Result<{ readonly body: Uint8Array; readonly rest: Uint8Array }, CodecError.MalformedInput> => {
  const result = makeUnstuffer().push(bytes)
  if (!result.done) {
    return Result.fail(
      new CodecError.MalformedInput({
        grammar: "mail data",
        detail: "no end-of-data line \".\" (RFC 5321 §4.1.1.4)",
        preview: CodecError.preview(bytes.subarray(Math.max(0, bytes.length - 64)))
      })
    )
  }
  return Result.succeed({ body: Buffer.concat(result.data), rest: result.rest })
}
