/**
 * Splits a message body into BDAT chunks (CHUNKING, RFC 3030 §2): each chunk is a `BDAT n` line
 * followed by exactly n raw octets, the last one `BDAT n LAST` (or `BDAT 0 LAST` for an empty
 * body). There is no dot-stuffing and no line-ending rewrite: BDAT carries octets as they are
 * (the body must still be valid for the BODY type declared in MAIL).
 *
 * The chunker is incremental with bounded memory: it holds at most `chunkSize` octets as views of
 * the pushed chunks (no copy). A full chunk is emitted when the next octet arrives, so that the
 * final chunk is still held at `end()` and can carry LAST (no empty `BDAT 0 LAST` after a body
 * whose size is a multiple of `chunkSize`).
 *
 * The server answers every BDAT command (RFC 3030 §2); without PIPELINING the client waits for each
 * reply before sending the next chunk (§4.2), so every chunk is returned separately.
 *
 * @since 0.1.0
 */
import type * as SmtpCommand from "./SmtpCommand.ts"

/**
 * One BDAT command with its data: write `header` and then the `data` views (`size` octets).
 *
 * @category models
 * @since 0.1.0
 */
export interface BdatChunk {
  readonly command: SmtpCommand.Bdat
  /** `BDAT n[ LAST]\r\n`. */
  readonly header: Uint8Array
  readonly data: ReadonlyArray<Uint8Array>
  /** The command line for the wire trace (the data is not traced). */
  readonly trace: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface BdatOptions {
  /** Octets per BDAT chunk (default 1 MiB). */
  readonly chunkSize?: number
}

/**
 * `push` returns the chunks completed by a body chunk (views of it: do not modify it until they
 * are written); `end` returns the rest, the last one marked LAST. The chunker is then ready for the
 * next body.
 *
 * @category models
 * @since 0.1.0
 */
export interface BdatChunker {
  readonly push: (chunk: Uint8Array) => ReadonlyArray<BdatChunk>
  readonly end: () => ReadonlyArray<BdatChunk>
}

/**
 * The default chunk size: big enough that the per-chunk reply is negligible, small enough to keep
 * a server's per-chunk buffering modest.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultChunkSize = 1024 * 1024

const encoder = new TextEncoder()

const chunk = (size: number, last: boolean, data: ReadonlyArray<Uint8Array>): BdatChunk => {
  const trace = last ? `BDAT ${size} LAST` : `BDAT ${size}`
  return { command: { _tag: "Bdat", size, last }, header: encoder.encode(trace + "\r\n"), data, trace }
}

/**
 * Creates a BDAT chunker. A `chunkSize` that is not a positive integer falls back to the default.
 *
 * @example
 * ```ts
 * import * as Bdat from "@starttls/smtp/Bdat"
 *
 * const chunker = Bdat.makeChunker({ chunkSize: 4 })
 * chunker.push(new TextEncoder().encode("Hello world")) // BDAT 4 "Hell", BDAT 4 "o wo"
 * chunker.end()                                        // BDAT 3 LAST "rld"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeChunker = (options?: BdatOptions): BdatChunker => {
  const requested = options?.chunkSize
  const chunkSize = requested !== undefined && Number.isSafeInteger(requested) && requested > 0
    ? requested
    : defaultChunkSize
  let held: Array<Uint8Array> = []
  let heldSize = 0

  const push = (input: Uint8Array): ReadonlyArray<BdatChunk> => {
    const out: Array<BdatChunk> = []
    let at = 0
    while (at < input.length) {
      // Emit only when more data follows, so the final chunk can still become LAST at end().
      if (heldSize === chunkSize) {
        out.push(chunk(heldSize, false, held))
        held = []
        heldSize = 0
      }
      const take = Math.min(chunkSize - heldSize, input.length - at)
      held.push(input.subarray(at, at + take))
      heldSize += take
      at += take
    }
    return out
  }

  const end = (): ReadonlyArray<BdatChunk> => {
    const last = chunk(heldSize, true, held)
    held = []
    heldSize = 0
    return [last]
  }

  return { push, end }
}
