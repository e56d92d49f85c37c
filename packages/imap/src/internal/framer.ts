/**
 * Byte-level framing of the server stream into responses (RFC 9051 §2.2.2, §4.3), and the
 * hand-off of each complete response to the grammar.
 *
 * A response is one or more line segments: a segment ending in a literal marker (`{n}`, `~{n}`
 * of RFC 3516, and leniently `{n+}`, which RFC 7888 defines for clients only) is followed by
 * exactly n raw bytes and another segment. LF is found with `Buffer#indexOf` and the byte before
 * it checked for CR; literal bytes are skipped by count, never scanned, and kept as views of the
 * pushed chunk; they are copied only when they straddle chunks (once, into a buffer of the
 * announced size). Large BODY[]/BINARY[] literals can be streamed out as chunks instead.
 *
 * Like every IMAP client parser, a line ending in `{n}` is taken as announcing a literal, even in
 * `text` where the grammar allows none: the framer cannot know, and servers do not end text so.
 */
import { Buffer, isAscii, isUtf8 } from "node:buffer"
import * as CodecError from "@starttls/core/CodecError"
import type * as ImapResponse from "../ImapResponse.ts"
import { asBuffer, latin1Slice, utf8Slice } from "./buffers.ts"
import { decodeResponse } from "./decode.ts"
import { streamTarget } from "./fetch.ts"
import { Reader, TEXT_ASCII, TEXT_LATIN1, TEXT_UTF8 } from "./reader.ts"

/** Resolved limits (see `ImapProtocol.ParserOptions`). */
export interface FramerLimits {
  readonly maxLineLength: number
  readonly maxLiteralSize: number
  readonly maxListDepth: number
  readonly maxResponseBytes: number
  /** `Infinity` when streaming is off. */
  readonly streamLiteralsAbove: number
}

const LF = 0x0a
const CR = 0x0d
const RBRACE = 0x7d
const LBRACE = 0x7b
const PLUS = 0x2b
const TILDE = 0x7e
const EMPTY: Uint8Array = Buffer.alloc(0)
const PREVIEW_BYTES = 64
/** Last segments up to this long are checked for ASCII in JS (see `line`). */
const SHORT = 32
const ONE_CHAR: ReadonlyArray<string> = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c))

/**
 * The LF ending the segment that starts at `pos`, for a segment after a literal: those are mostly a
 * few bytes (the ")" closing a FETCH), found sooner by a short loop than by a native call.
 */
const lineEnd = (buf: Buffer, pos: number, len: number): number => {
  const stop = pos + SHORT < len ? pos + SHORT : len
  for (let k = pos; k < stop; k++) if (buf[k] === LF) return k
  return stop === len ? -1 : buf.indexOf(LF, stop)
}

const asciiRange = (buf: Buffer, start: number, end: number): boolean => {
  for (let k = start; k < end; k++) if (buf[k]! > 0x7f) return false
  return true
}

const limit = (name: string, max: number, actual: number): CodecError.LimitExceeded =>
  new CodecError.LimitExceeded({ limit: name, max, actual })

/** `buf.subarray(start, end)` for valid bounds, without its argument handling (~30% less time). */
const slice = (buf: Buffer, start: number, end: number): Buffer => Buffer.from(buf.buffer, buf.byteOffset + start, end - start)

export class Framer {
  private readonly r: Reader
  private readonly maxLineLength: number
  private readonly maxLiteralSize: number
  private readonly maxResponseBytes: number
  private readonly streamAbove: number
  /** A line received in pieces (views of earlier chunks), and its length. */
  // (overwritten by index and created holding a buffer, as the reader's arrays: see `Reader.segs`)
  private parts: Array<Uint8Array> = [EMPTY]
  private partCount = 0
  private partLen = 0
  /** Literal bytes still expected; -1 while reading a line. */
  private litLeft = -1
  /** A literal that straddles chunks is gathered here, allocated once at its announced size. */
  private litBuf: Buffer | undefined = undefined
  private litFill = 0
  private streaming = false
  /** Bytes of the response under way: its complete segments and buffered literal bytes. */
  private held = 0

  constructor(limits: FramerLimits) {
    this.r = new Reader(limits.maxListDepth)
    this.maxLineLength = limits.maxLineLength
    this.maxLiteralSize = limits.maxLiteralSize
    this.maxResponseBytes = limits.maxResponseBytes
    this.streamAbove = limits.streamLiteralsAbove
  }

  /** Frames `input`, appending complete responses (and streamed literal frames) to `out`. Throws a
   * DecodeError on bad input; the caller makes that terminal. */
  push(input: Uint8Array, out: Array<ImapResponse.Frame>): void {
    const chunk = asBuffer(input)
    const len = chunk.length
    let pos = 0
    while (pos < len) {
      if (this.litLeft >= 0) {
        pos = this.literal(chunk, pos, len, out)
        continue
      }
      const lf = this.r.count > 0 ? lineEnd(chunk, pos, len) : chunk.indexOf(LF, pos)
      if (lf < 0) {
        const rest = chunk.subarray(pos)
        this.parts[this.partCount++] = rest
        this.partLen += rest.length
        // without its LF the line is at least partLen - 1 (a trailing CR) bytes long
        if (this.partLen - 1 > this.maxLineLength) throw limit("maxLineLength", this.maxLineLength, this.partLen - 1)
        return
      }
      if (this.partLen === 0) this.line(chunk, pos, lf, out)
      else {
        const whole = this.joinParts(chunk, pos, lf + 1)
        this.partLen = 0
        this.line(whole, 0, whole.length - 1, out)
      }
      pos = lf + 1
    }
  }

  /** The partial line's pieces and `chunk[pos, end)` in one buffer; forgets the pieces. */
  private joinParts(chunk: Buffer, pos: number, end: number): Buffer {
    const whole = Buffer.allocUnsafe(this.partLen + end - pos)
    const parts = this.parts
    let fill = 0
    for (let i = 0; i < this.partCount; i++) {
      const part = parts[i]!
      whole.set(part, fill)
      fill += part.length
      parts[i] = EMPTY
    }
    chunk.copy(whole, fill, pos, end)
    this.partCount = 0
    return whole
  }

  /** One segment: `buf[start, lf]`, LF included. */
  private line(buf: Buffer, start: number, lf: number, out: Array<ImapResponse.Frame>): void {
    // CRLF; a lone LF is accepted (go-imap v2 `imapwire` CRLF() does the same)
    const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf
    if (end - start > this.maxLineLength) throw limit("maxLineLength", this.maxLineLength, end - start)
    let size = -1
    let marker = -1
    if (end > start && buf[end - 1] === RBRACE) {
      // literal = "{" number64 ["+"] "}" CRLF; literal8 = "~{" number64 "}" CRLF
      let k = end - 2
      if (k >= start && buf[k] === PLUS) k--
      let v = 0
      let scale = 1
      const last = k
      while (k >= start) {
        const d = buf[k]! - 0x30
        if (d < 0 || d > 9) break
        v += d * scale
        scale *= 10
        k--
      }
      if (k < last && k >= start && buf[k] === LBRACE) {
        size = last - k > 16 ? Infinity : v
        marker = k > start && buf[k - 1] === TILDE ? k - 1 : k
      }
    }
    const r = this.r
    if (size < 0 && end - start <= SHORT && asciiRange(buf, start, end)) {
      // a short last segment (the ")" after a FETCH literal): no view nor native ASCII check; its
      // bytes are not kept (an ASCII segment's text is all the grammar reads, and the response is
      // decoded now: an error preview then ends before it)
      r.addSegment(end - start === 1 ? ONE_CHAR[buf[start]!]! : latin1Slice(buf, start, end), EMPTY, TEXT_ASCII, -1)
    } else this.segment(buf, start, end, lf, marker)
    this.held += lf + 1 - start
    if (this.held > this.maxResponseBytes) throw limit("maxResponseBytes", this.maxResponseBytes, this.held)
    if (size < 0) {
      r.start(-1)
      out.push(decodeResponse(r))
      r.clear()
      this.held = 0
      return
    }
    if (size === 0) {
      r.addLiteral(EMPTY, 0)
      return
    }
    if (size > this.streamAbove && this.stream(size, out)) return
    if (size > this.maxLiteralSize) throw limit("maxLiteralSize", this.maxLiteralSize, size)
    if (this.held + size > this.maxResponseBytes) {
      throw limit("maxResponseBytes", this.maxResponseBytes, this.held + size)
    }
    this.litLeft = size
  }

  /** Adds a segment: its text, decoded as its bytes allow, and its bytes. */
  private segment(buf: Buffer, start: number, end: number, lf: number, marker: number): void {
    const r = this.r
    const view = slice(buf, start, lf + 1)
    if (isAscii(view)) r.addSegment(latin1Slice(buf, start, end), view, TEXT_ASCII, marker < 0 ? -1 : marker - start)
    else if (isUtf8(view)) {
      // the marker and what follows it are ASCII: it is as far from the end in the text as in bytes
      const text = utf8Slice(buf, start, end)
      r.addSegment(text, view, TEXT_UTF8, marker < 0 ? -1 : text.length - (end - marker))
    } else r.addSegment(latin1Slice(buf, start, end), view, TEXT_LATIN1, marker < 0 ? -1 : marker - start)
  }

  /** Starts streaming the announced literal when it is a body section value. */
  private stream(size: number, out: Array<ImapResponse.Frame>): boolean {
    const r = this.r
    r.start(r.count - 1)
    let target: ReturnType<typeof streamTarget>
    try {
      target = streamTarget(r)
    } catch {
      // NOT_YET (the literal sits inside another attribute) or a malformed prefix: not streamed;
      // the complete response is parsed (and reported) as usual
      target = undefined
    }
    if (target === undefined || size === Infinity) return false
    out.push(
      target.origin < 0
        ? { _tag: "LiteralStart", seq: target.seq, item: target.item, section: target.section, size }
        : {
          _tag: "LiteralStart",
          seq: target.seq,
          item: target.item,
          section: target.section,
          origin: target.origin,
          size
        }
    )
    r.addLiteral(undefined, size)
    this.streaming = true
    this.litLeft = size
    return true
  }

  /** Literal bytes from `chunk[pos, len)`; returns the new position. */
  private literal(chunk: Buffer, pos: number, len: number, out: Array<ImapResponse.Frame>): number {
    const left = this.litLeft
    const take = left < len - pos ? left : len - pos
    const end = pos + take
    const done = take === left
    this.litLeft = done ? -1 : left - take
    if (this.streaming) {
      // the whole chunk when it is all literal (no view to make)
      out.push({ _tag: "LiteralChunk", bytes: pos === 0 && end === len ? chunk : chunk.subarray(pos, end) })
      if (done) this.streaming = false
      return end
    }
    this.held += take
    let buf = this.litBuf
    if (buf === undefined) {
      if (done) {
        this.r.addLiteral(slice(chunk, pos, end), take)
        return end
      }
      buf = Buffer.allocUnsafe(left)
      this.litBuf = buf
      this.litFill = 0
    }
    chunk.copy(buf, this.litFill, pos, end)
    this.litFill += take
    if (done) {
      this.r.addLiteral(buf, buf.length)
      this.litBuf = undefined
    }
    return end
  }

  /** Bytes received that no emitted response accounts for. */
  buffered(): number {
    return this.held + this.partLen
  }

  /** Whether a partial line or the response under way still views `buffer` (see `Wire.lend`). */
  retains(buffer: ArrayBufferLike): boolean {
    const parts = this.parts
    for (let i = 0; i < this.partCount; i++) if (parts[i]!.buffer === buffer) return true
    const r = this.r
    for (let i = 0; i < r.count; i++) if (r.bytes[i]?.buffer === buffer) return true
    for (let i = 0; i < r.litCount; i++) if (r.lits[i]?.buffer === buffer) return true
    return false
  }

  /** The first bytes of what `buffered()` counts, for error messages. */
  pendingPreview(): Uint8Array {
    const r = this.r
    const pieces: Array<Uint8Array> = []
    for (let i = 0; i < r.count; i++) {
      pieces.push(r.bytes[i]!)
      const lit = i < r.litCount ? r.lits[i] : undefined
      if (lit !== undefined) pieces.push(lit)
    }
    if (this.litBuf !== undefined) pieces.push(this.litBuf.subarray(0, this.litFill))
    for (let i = 0; i < this.partCount; i++) pieces.push(this.parts[i]!)
    const out = new Uint8Array(Math.min(PREVIEW_BYTES, this.buffered()))
    let fill = 0
    for (const p of pieces) {
      if (fill >= out.length) break
      const n = Math.min(p.length, out.length - fill)
      out.set(p.subarray(0, n), fill)
      fill += n
    }
    return fill === out.length ? out : out.subarray(0, fill)
  }
}

/**
 * One idle instance, never used. V8 reaches an instance's final hidden class through transitions
 * that it drops in a full GC when no instance is alive; optimized code that embeds that class is
 * then discarded. Without this, the first parser after a full GC with no parser alive (a reconnect)
 * re-optimizes every hot function while parsing: measured at half speed for ~45 MB.
 */
export const keepHiddenClassesAlive = new Framer({
  maxLineLength: 0,
  maxLiteralSize: 0,
  maxListDepth: 0,
  maxResponseBytes: 0,
  streamLiteralsAbove: Infinity
})
