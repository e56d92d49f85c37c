/**
 * Pure, incremental decoder of POP3 server responses (RFC 1939, RFC 2449 CAPA and extended response
 * codes, RFC 5034 SASL continuations), and the dot-stuffing encoder for multi-line bodies.
 *
 * POP3 responses do not say whether a body follows (`+OK` to `LIST` has one, `+OK` to `LIST 1`
 * does not), so the client tells the parser what it expects, in the order it sends the commands:
 * `expect(kind)` returns the expectation's number, and every frame carries the number of the
 * expectation it answers. With PIPELINING (RFC 2449 §6.6) many expectations are queued and the
 * answers are matched in order. A byte that arrives while nothing is expected is a protocol
 * violation (the server speaks only to answer, RFC 1939 §3), reported as `MalformedInput`.
 *
 * Each expectation is answered by exactly one `Status` or `Continuation` frame; after a `+OK` to a
 * `"multi"` expectation comes one `Lines` frame, after a `+OK` to a `"multiStream"` expectation
 * `BodyChunk` frames and one `BodyEnd`.
 *
 * Multi-line bodies (RFC 1939 §3): a line that starts with `.` has that `.` removed, and the line
 * `.` alone ends the body. The end is found across any chunk boundary, including an empty body
 * (`+OK\r\n.\r\n`) and a `.` and its CRLF arriving in separate reads.
 *
 * Performance model (`bench/retr-parse.ts`): a streamed body is scanned once, for the two bytes
 * LF "." with `Buffer#indexOf` (a native search that skips whole lines without returning to
 * JavaScript), and handed out as views of the pushed chunk: one `BodyChunk` per chunk, cut only
 * where a stuffed dot is removed or the body ends. Nothing is copied, except a lone CR after a
 * line-start dot split from its line by a chunk boundary (one byte). Status and collected lines
 * are found with `indexOf(0x0a)`; only a line that straddles chunks is copied.
 *
 * Leniency: a bare LF ends a line like CRLF (a CR before the LF is not part of the line), so a
 * `.` line ended by a bare LF also ends a body; the status indicators are accepted in any case.
 *
 * Safety: the parser is total and bounded (S8): any input gives frames or a `DecodeError`
 * (`MalformedInput` naming the ABNF rule, or `LimitExceeded` naming the option), never an
 * exception; the first error is terminal. Any split of the input into chunks gives the same
 * frames, except that body bytes may be cut into `BodyChunk`s differently. Streamed bodies are
 * not buffered and have no size limit here.
 *
 * Nothing here opens a socket, tracks the session state or decides what server text to trust.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import type * as Framer from "@starttls/core/Framer"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import * as Pop3Response from "./Pop3Response.ts"

/**
 * Parser limits. Every limit names itself in the `LimitExceeded` it causes.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParserOptions {
  /**
   * Longest status line, continuation or collected (`"multi"`) line, in bytes, without its CRLF.
   * Lines of streamed bodies are not limited (they are never held).
   */
  readonly maxLineLength?: number
  /**
   * Most bytes of one collected (`"multi"`) answer after its status line, as received (lines with
   * their CRLF). Streamed bodies are not counted.
   */
  readonly maxResponseBytes?: number
}

/**
 * Defaults. RFC 2449 §4 caps a response's first line at 512 octets with its CRLF, but real
 * servers send longer greetings and IMPLEMENTATION texts, and SASL challenges (GSSAPI) and UIDL
 * lines are not covered by that cap; 8 KiB tolerates them and still bounds what a hostile server
 * can make us hold per line. 16 MiB per collected answer fits a UIDL listing of about 200,000
 * messages with long (70-character) ids.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultParserOptions: Required<ParserOptions> = {
  maxLineLength: 8192,
  maxResponseBytes: 16 * 1024 * 1024
}

/**
 * An incremental response parser. It is a core `Framer`, plus the queue of expectations.
 *
 * @category models
 * @since 0.1.0
 */
export interface Parser extends Framer.Framer<Pop3Response.Frame> {
  /**
   * Queues the expectation for the next command's answer (call it when the command is sent, before
   * pushing bytes that may hold the answer). Returns its number (0, 1, 2 ... per parser), which the
   * answering frames carry.
   */
  readonly expect: (kind: Pop3Response.Expectation) => number
  /**
   * Takes the next bytes from the server and returns every frame they complete, in order. Frames
   * may be views into `chunk`: hand over a buffer that is not reused, as socket reads are. After a
   * failure every call returns the same failure; frames completed by the failing call are not
   * returned.
   */
  readonly push: (chunk: Uint8Array) => Result.Result<ReadonlyArray<Pop3Response.Frame>, CodecError.DecodeError>
  /**
   * Bytes received that no returned frame accounts for: a partial line, the collected lines of an
   * unfinished `"multi"` answer, or a line-start `.` (and CR) whose meaning the next byte decides.
   * 0 right after a push that ended at a frame boundary. STARTTLS check (S3): after the `+OK` to
   * STLS it must be 0 and `inFlight()` must be 0.
   */
  readonly buffered: () => number
  /** The first (at most 64) bytes that `buffered()` counts, for an error report. */
  readonly pendingPreview: () => Uint8Array
  /** Expectations queued and not yet completely answered. */
  readonly inFlight: () => number
  /**
   * Always false: what the parser keeps between pushes (a partial line, collected lines) is
   * copied, so a pushed chunk is referenced only by the frames returned for it (`Wire.lend`).
   */
  readonly retains: (buffer: ArrayBufferLike) => boolean
}

const LF = 0x0a
const CR = 0x0d
const DOT = 0x2e
const SP = 0x20
const PLUS = 0x2b
const MINUS = 0x2d
const NL_DOT: Buffer = Buffer.from([LF, DOT])
const EMPTY: Uint8Array = new Uint8Array(0)
const PREVIEW = 64

// Parser modes.
const STATUS = 0 // waiting for the first line of the answer at the head of the queue
const LINES = 1 // collecting the lines of a "multi" answer
const BODY = 2 // streaming the body of a "multiStream" answer

// Body states: where the next byte falls.
const B_START = 0 // at the start of a line
const B_MID = 1 // inside a line
const B_DOT = 2 // after a line-start "."
const B_DOT_CR = 3 // after a line-start ".\r"

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** `+OK` / `-ERR` in any case, followed by SP or the end of the line: the status and where the text starts. */
const statusIndicator = (line: Buffer, length: number): Pop3Response.StatusLine["_tag"] | undefined => {
  const c0 = line[0]
  if (c0 === PLUS) {
    if (length >= 3 && (line[1]! | 0x20) === 0x6f && (line[2]! | 0x20) === 0x6b && (length === 3 || line[3] === SP)) {
      return "Ok"
    }
  } else if (c0 === MINUS) {
    if (
      length >= 4 && (line[1]! | 0x20) === 0x65 && (line[2]! | 0x20) === 0x72 && (line[3]! | 0x20) === 0x72 &&
      (length === 4 || line[4] === SP)
    ) return "Err"
  }
  return undefined
}

/**
 * Creates a parser.
 *
 * @example
 * ```ts
 * import * as Pop3Protocol from "@starttls/pop3/Pop3Protocol"
 * import * as Result from "effect/Result"
 *
 * const parser = Pop3Protocol.makeParser()
 * parser.expect("greeting")
 * parser.expect("multiStream") // RETR 1
 * const result = parser.push(new TextEncoder().encode("+OK ready\r\n+OK\r\nSubject: hi\r\n\r\n..dot\r\n.\r\n"))
 * if (Result.isSuccess(result)) console.log(result.success) // Status, Status, BodyChunk x2, BodyEnd
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeParser = (options?: ParserOptions): Parser => {
  const maxLineLength = options?.maxLineLength ?? defaultParserOptions.maxLineLength
  const maxResponseBytes = options?.maxResponseBytes ?? defaultParserOptions.maxResponseBytes

  // Expectation queue: kinds[head] is answered next; `answered` answers came before it.
  let kinds: Array<Pop3Response.Expectation> = []
  let head = 0
  let answered = 0

  let mode = STATUS
  let failure: Result.Result<never, CodecError.DecodeError> | undefined

  // A line split across chunks (copied).
  let partial: Uint8Array = EMPTY
  let partialLength = 0

  // LINES mode.
  let lines: Array<string> = []
  let linesBytes = 0
  const linesPreview = new Uint8Array(PREVIEW)
  let linesPreviewLength = 0

  // BODY mode.
  let bodyState = B_START
  let bodySize = 0

  const fail = (error: CodecError.DecodeError) => {
    failure = Result.fail(error)
    return failure
  }

  const dequeue = () => {
    head++
    answered++
    if (head === kinds.length) {
      kinds.length = 0
      head = 0
    } else if (head >= 1024 && head * 2 >= kinds.length) {
      kinds = kinds.slice(head)
      head = 0
    }
  }

  const appendPartial = (chunk: Uint8Array, from: number, to: number) => {
    const add = to - from
    const need = partialLength + add
    if (need > partial.length) {
      const grown = new Uint8Array(Math.min(Math.max(need, partial.length * 2, 256), maxLineLength + 2))
      grown.set(partial.subarray(0, partialLength))
      partial = grown
    }
    partial.set(chunk.subarray(from, to), partialLength)
    partialLength = need
  }

  const notePreview = (chunk: Uint8Array, from: number, to: number) => {
    if (linesPreviewLength >= PREVIEW) return
    const n = Math.min(PREVIEW - linesPreviewLength, to - from)
    linesPreview.set(chunk.subarray(from, from + n), linesPreviewLength)
    linesPreviewLength += n
  }

  const lineTooLong = (actual: number) =>
    new CodecError.LimitExceeded({ limit: "maxLineLength", max: maxLineLength, actual })

  /** A complete status / continuation line (CR removed). */
  const onStatusLine = (line: Buffer, length: number, out: Array<Pop3Response.Frame>): CodecError.DecodeError | undefined => {
    const kind = kinds[head]!
    const expectation = answered
    const tag = statusIndicator(line, length)
    if (tag !== undefined) {
      const textStart = tag === "Ok" ? 4 : 5
      const rest = length > textStart ? line.toString("utf8", textStart, length) : ""
      const status = Pop3Response.statusLine(tag, rest)
      out.push({ _tag: "Status", expectation, kind, status })
      if (tag === "Ok" && kind === "multi") {
        mode = LINES
        lines = []
        linesBytes = 0
        linesPreviewLength = 0
      } else if (tag === "Ok" && kind === "multiStream") {
        mode = BODY
        bodyState = B_START
        bodySize = 0
      } else {
        dequeue()
      }
      return undefined
    }
    // RFC 5034 §4: continue-req = "+" SP [base64] CRLF (a bare "+" is tolerated).
    if (kind === "sasl" && line[0] === PLUS && (length === 1 || line[1] === SP)) {
      out.push({ _tag: "Continuation", expectation, text: length > 2 ? line.toString("latin1", 2, length) : "" })
      dequeue()
      return undefined
    }
    return new CodecError.MalformedInput({
      grammar: kind === "sasl" ? "continue-req" : "single-line",
      detail: kind === "sasl"
        ? "expected \"+OK\", \"-ERR\" or \"+ \" (RFC 5034 §4)"
        : "expected \"+OK\" or \"-ERR\" (RFC 1939 §3)",
      preview: CodecError.preview(line.subarray(0, length))
    })
  }

  /** A complete line of a "multi" answer (CR removed); `raw` is its size on the wire. */
  const onCollectedLine = (
    line: Buffer,
    length: number,
    raw: number,
    out: Array<Pop3Response.Frame>
  ): CodecError.DecodeError | undefined => {
    if (line[0] === DOT) {
      if (length === 1) {
        out.push({ _tag: "Lines", expectation: answered, lines })
        lines = []
        linesBytes = 0
        linesPreviewLength = 0
        mode = STATUS
        dequeue()
        return undefined
      }
      lines.push(line.toString("utf8", 1, length)) // RFC 1939 §3: remove the stuffed "."
    } else {
      lines.push(length === 0 ? "" : line.toString("utf8", 0, length))
    }
    linesBytes += raw
    if (linesBytes > maxResponseBytes) {
      return new CodecError.LimitExceeded({ limit: "maxResponseBytes", max: maxResponseBytes, actual: linesBytes })
    }
    return undefined
  }

  const emit = (out: Array<Pop3Response.Frame>, bytes: Uint8Array) => {
    if (bytes.length > 0) {
      out.push({ _tag: "BodyChunk", expectation: answered, bytes })
      bodySize += bytes.length
    }
  }

  /** Streams body bytes from `p`; returns where it stopped (the end of the chunk or of the body). */
  const onBody = (chunk: Buffer, p: number, out: Array<Pop3Response.Frame>): number => {
    const n = chunk.length
    let run = p // start of the body bytes not yet emitted
    for (;;) {
      switch (bodyState) {
        case B_START: {
          if (p >= n) return n
          if (chunk[p] === DOT) {
            p++
            bodyState = B_DOT
          } else {
            bodyState = B_MID
          }
          break
        }
        case B_MID: {
          const at = chunk.indexOf(NL_DOT, p)
          if (at < 0) {
            emit(out, chunk.subarray(run, n))
            // p < n here, so the last byte was scanned: a final LF puts the next chunk at a line start.
            bodyState = chunk[n - 1] === LF ? B_START : B_MID
            return n
          }
          emit(out, chunk.subarray(run, at + 1))
          p = at + 2
          bodyState = B_DOT
          break
        }
        case B_DOT: {
          if (p >= n) return n
          const c = chunk[p]
          if (c === LF) return endBody(p + 1, out)
          if (c === CR) {
            p++
            bodyState = B_DOT_CR
          } else {
            // RFC 1939 §3: a line-start "." followed by other bytes is a stuffed "."; drop it.
            run = p
            bodyState = B_MID
          }
          break
        }
        case B_DOT_CR: {
          if (p >= n) return n
          if (chunk[p] === LF) return endBody(p + 1, out)
          // ".\r" then something else: the CR is content. It is in this chunk unless p is 0.
          if (p > 0) {
            run = p - 1
          } else {
            emit(out, Uint8Array.of(CR))
            run = p
          }
          bodyState = B_MID
          break
        }
      }
    }
  }

  const endBody = (p: number, out: Array<Pop3Response.Frame>): number => {
    out.push({ _tag: "BodyEnd", expectation: answered, size: bodySize })
    mode = STATUS
    bodyState = B_START
    bodySize = 0
    dequeue()
    return p
  }

  const push = (input: Uint8Array): Result.Result<ReadonlyArray<Pop3Response.Frame>, CodecError.DecodeError> => {
    if (failure !== undefined) return failure
    const chunk = asBuffer(input)
    const n = chunk.length
    const out: Array<Pop3Response.Frame> = []
    let p = 0
    while (p < n) {
      if (mode === BODY) {
        p = onBody(chunk, p, out)
        continue
      }
      if (head === kinds.length) {
        return fail(
          new CodecError.MalformedInput({
            grammar: "response",
            detail: "data received while no command is in flight (RFC 1939 §3: the server only answers)",
            preview: CodecError.preview(chunk.subarray(p, p + PREVIEW))
          })
        )
      }
      const lf = chunk.indexOf(LF, p)
      if (lf < 0) {
        // Up to maxLineLength bytes plus a CR may precede the LF.
        if (partialLength + n - p > maxLineLength + 1) return fail(lineTooLong(partialLength + n - p))
        appendPartial(chunk, p, n)
        if (mode === LINES) notePreview(chunk, p, n)
        break
      }
      let line: Buffer
      let end: number
      const raw = partialLength + lf + 1 - p
      if (partialLength > 0) {
        if (partialLength + lf - p > maxLineLength + 1) return fail(lineTooLong(partialLength + lf - p))
        appendPartial(chunk, p, lf)
        line = asBuffer(partial)
        end = partialLength
        partialLength = 0
      } else {
        line = chunk.subarray(p, lf)
        end = lf - p
      }
      if (end > 0 && line[end - 1] === CR) end--
      if (end > maxLineLength) return fail(lineTooLong(end))
      if (mode === LINES) notePreview(chunk, p, lf + 1)
      p = lf + 1
      const error = mode === STATUS ? onStatusLine(line, end, out) : onCollectedLine(line, end, raw, out)
      if (error !== undefined) return fail(error)
    }
    return Result.succeed(out)
  }

  const buffered = (): number => {
    if (mode === BODY) return bodyState === B_DOT ? 1 : bodyState === B_DOT_CR ? 2 : 0
    return mode === LINES ? linesBytes + partialLength : partialLength
  }

  const pendingPreview = (): Uint8Array => {
    if (mode === BODY) return bodyState === B_DOT ? Uint8Array.of(DOT) : bodyState === B_DOT_CR ? Uint8Array.of(DOT, CR) : EMPTY
    if (mode === LINES) return linesPreview.slice(0, linesPreviewLength)
    return partial.slice(0, Math.min(partialLength, PREVIEW))
  }

  return {
    expect: (kind) => {
      kinds.push(kind)
      return answered + kinds.length - 1 - head
    },
    push,
    buffered,
    pendingPreview,
    inFlight: () => kinds.length - head,
    retains: () => false
  }
}

/**
 * The wire form of a multi-line body (RFC 1939 §3), as a server sends it after `+OK`: every line
 * that starts with `.` gets another `.` in front, a body that does not end with a line ending gets
 * CRLF, and the terminating `.` CRLF is appended. A line starts at the beginning of the body and
 * after every LF (as the parser reads it). `makeParser` gives back the body (with that CRLF).
 *
 * @category encoding
 * @since 0.1.0
 */
export const stuffBody = (body: Uint8Array): Uint8Array => {
  const src = asBuffer(body)
  const n = src.length
  let dots = n > 0 && src[0] === DOT ? 1 : 0
  for (let at = src.indexOf(NL_DOT); at >= 0; at = src.indexOf(NL_DOT, at + 2)) dots++
  const crlf = n > 0 && src[n - 1] !== LF ? 2 : 0
  const out = Buffer.allocUnsafe(n + dots + crlf + 3)
  let from = 0
  let to = 0
  if (n > 0 && src[0] === DOT) out[to++] = DOT
  for (let at = src.indexOf(NL_DOT); at >= 0; at = src.indexOf(NL_DOT, at + 2)) {
    to += src.copy(out, to, from, at + 1)
    out[to++] = DOT
    from = at + 1
  }
  to += src.copy(out, to, from, n)
  if (crlf > 0) {
    out[to++] = CR
    out[to++] = LF
  }
  out[to++] = DOT
  out[to++] = CR
  out[to] = LF
  return out
}
