/**
 * Raw DEFLATE streams (RFC 1951: no zlib or gzip header) for in-band compression such as IMAP
 * COMPRESS=DEFLATE (RFC 4978): one inflater and one deflater per connection, whose state lasts as
 * long as the connection.
 *
 * Node's zlib streaming objects do the work on the libuv thread pool. The synchronous zlib
 * functions cannot keep a stream's state across calls (each call ends its stream), so they are not
 * used.
 *
 * The inflater is bounded: it is read in pull mode, so once `PIECE` bytes of output wait to be
 * read, zlib stops consuming input until the wire takes them. A few kilobytes that inflate to
 * gigabytes (a decompression bomb) never occupy more than about two pieces (512 KiB); the
 * framer's limits end the connection long before the bomb is spent.
 *
 * Does not: choose a compression level (zlib's default), negotiate window sizes (RFC 4978 uses the
 * full 32 KiB window), or know any protocol.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { TransformOptions } from "node:stream"
import * as Zlib from "node:zlib"
import * as CodecError from "../CodecError.ts"

/**
 * Largest piece of inflated output handed to the framer at once, and zlib's output buffer. Big
 * enough that the thread-pool round trip per piece is small against the framing work (measured on
 * a 10 MB reply: 64 KiB pieces gave about a third less throughput than 256 KiB ones).
 */
export const PIECE = 256 * 1024

const malformed = (detail: string): CodecError.MalformedInput =>
  new CodecError.MalformedInput({ grammar: "deflate stream", detail, preview: "" })

const detailOf = (error: unknown): string => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "zlib error"
  const message = error instanceof Error ? error.message : String(error)
  return `${code}: ${message}`
}

/**
 * What the inflater has now.
 *
 * - `Output`: inflated bytes (at most about `PIECE`).
 * - `NeedInput`: every byte written so far was inflated and read.
 * - `Busy`: zlib is still working on written bytes (`settle` waits for it).
 * - `Failed`: a corrupt stream, one the peer ended (a final block: RFC 4978 streams never end), or
 *   a closed inflater.
 *
 * @internal
 */
export type Poll =
  | { readonly _tag: "Output"; readonly bytes: Uint8Array }
  | { readonly _tag: "NeedInput" }
  | { readonly _tag: "Busy" }
  | { readonly _tag: "Failed"; readonly error: CodecError.MalformedInput }

const NEED_INPUT: Poll = { _tag: "NeedInput" }
const BUSY: Poll = { _tag: "Busy" }

/**
 * The receiving half: compressed bytes in, plaintext out in bounded pieces.
 *
 * @internal
 */
export interface Inflater {
  /** Hands compressed bytes over; they are inflated in the background, in order. */
  readonly write: (chunk: Uint8Array) => void
  /** What the inflater has now, without waiting. */
  readonly poll: () => Poll
  /** Waits until `poll` may say something else than `Busy`. */
  readonly settle: Effect.Effect<void>
  /** `poll`, waiting while busy: the next bytes, or `undefined` when more input is needed. */
  readonly read: Effect.Effect<Uint8Array | undefined, CodecError.MalformedInput>
  /** Frees zlib's memory. Reads after it fail. */
  readonly close: () => void
}

/**
 * @internal
 */
export const makeInflater = (): Inflater => {
  // zlib streams pass stream options on to their Transform: the output buffer is one piece.
  const options: Zlib.ZlibOptions & TransformOptions = { chunkSize: PIECE, highWaterMark: PIECE }
  const stream = Zlib.createInflateRaw(options)
  let writing = 0
  let failure: CodecError.MalformedInput | undefined
  let ended = false
  let wake: (() => void) | undefined
  const notify = () => {
    const resume = wake
    wake = undefined
    resume?.()
  }
  stream.on("readable", notify)
  stream.on("end", () => {
    ended = true
    notify()
  })
  stream.on("error", (error) => {
    failure ??= malformed(detailOf(error))
    notify()
  })
  stream.on("close", () => {
    failure ??= malformed("the inflater is closed")
    notify()
  })

  const ready = () => stream.readableLength > 0 || failure !== undefined || ended || writing === 0

  // Registered and checked in one synchronous step, so no event can slip between the check and the wait.
  const settle = Effect.callback<void>((resume) => {
    if (ready()) return resume(Effect.void)
    wake = () => resume(Effect.void)
    return Effect.sync(() => {
      wake = undefined
    })
  })

  const poll = (): Poll => {
    const bytes: Uint8Array | null = stream.read()
    if (bytes !== null) return { _tag: "Output", bytes }
    if (ended) return { _tag: "Failed", error: malformed("the peer ended the compressed stream") }
    if (failure !== undefined) return { _tag: "Failed", error: failure }
    return writing === 0 ? NEED_INPUT : BUSY
  }

  const read: Effect.Effect<Uint8Array | undefined, CodecError.MalformedInput> = Effect.suspend(() => {
    const next = poll()
    switch (next._tag) {
      case "Output":
        return Effect.succeed(next.bytes)
      case "NeedInput":
        return Effect.succeed(undefined)
      case "Busy":
        return Effect.andThen(settle, read)
      case "Failed":
        return Effect.fail(next.error)
    }
  })

  return {
    write: (chunk) => {
      if (chunk.length === 0 || failure !== undefined) return
      writing++
      stream.write(chunk, () => {
        writing--
        notify()
      })
    },
    poll,
    settle,
    read,
    close: () => {
      failure ??= malformed("the inflater is closed")
      stream.destroy()
      notify()
    }
  }
}

/**
 * The sending half.
 *
 * @internal
 */
export interface Deflater {
  /**
   * Compresses one write and ends it with a sync flush (RFC 4978 §4: the sender flushes, so the
   * peer can inflate all of it now). The result is what goes on the wire for that write. Calls
   * must not overlap (the wire serialises them).
   */
  readonly deflate: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<Uint8Array, CodecError.EncodeError>
  /** Frees zlib's memory. Writes after it fail. */
  readonly close: () => void
}

/**
 * @internal
 */
export const makeDeflater = (): Deflater => {
  const stream = Zlib.createDeflateRaw({ chunkSize: 64 * 1024 })
  let out: Array<Buffer> = []
  let failure: CodecError.EncodeError | undefined
  let pending: ((error: CodecError.EncodeError) => void) | undefined
  const broken = (detail: string) => {
    failure ??= new CodecError.EncodeError({ field: "deflate stream", detail })
    const reject = pending
    pending = undefined
    reject?.(failure)
  }
  // Flowing mode: the output of a write is at most about its input, which the caller already holds.
  stream.on("data", (chunk: Buffer) => {
    out.push(chunk)
  })
  stream.on("error", (error) => broken(detailOf(error)))
  stream.on("close", () => broken("the deflater is closed"))

  const deflate = (chunks: ReadonlyArray<Uint8Array>) =>
    Effect.callback<Uint8Array, CodecError.EncodeError>((resume) => {
      if (failure !== undefined) return resume(Effect.fail(failure))
      pending = (error) => resume(Effect.fail(error))
      for (const chunk of chunks) if (chunk.length > 0) stream.write(chunk)
      // The flush callback runs after every byte of output it produced was emitted as "data".
      stream.flush(Zlib.constants.Z_SYNC_FLUSH, () => {
        if (pending === undefined) return
        pending = undefined
        const bytes = out.length === 1 ? out[0]! : Buffer.concat(out)
        out = []
        resume(Effect.succeed(bytes))
      })
      // An abandoned write leaves bytes in the shared dictionary that the peer never sees: the
      // stream cannot be used any more.
      return Effect.sync(() => broken("a compressed write was interrupted"))
    })

  return {
    deflate,
    close: () => {
      broken("the deflater is closed")
      stream.destroy()
    }
  }
}
