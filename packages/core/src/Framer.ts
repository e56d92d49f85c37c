/**
 * The contract between a protocol's pure parser and the connection: an incremental framer.
 *
 * `push` takes the next received chunk and returns every frame it completes (possibly none). It is
 * terminal on error. `buffered` is the number of received bytes held that no returned frame
 * consumed; the connection uses it for the STARTTLS injection check (S3): when the STARTTLS success
 * reply has been framed, `buffered()` must be 0.
 *
 * Frames may hold views into the pushed chunks; the connection consumes them before the next push.
 * `retains` lets the connection release a chunk's memory as soon as its frames are consumed.
 *
 * @since 0.1.0
 */
import type * as Result from "effect/Result"
import type * as CodecError from "./CodecError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Framer<F> {
  readonly push: (chunk: Uint8Array) => Result.Result<ReadonlyArray<F>, CodecError.DecodeError>
  readonly buffered: () => number
  readonly pendingPreview: () => Uint8Array
  /**
   * Whether the framer still holds a view into `buffer` (a pushed chunk's buffer) for frames not
   * yet returned. A framer that copies what it keeps answers false for every buffer; one that
   * leaves this out never has its input released early (see `Wire.lend`).
   */
  readonly retains?: ((buffer: ArrayBufferLike) => boolean) | undefined
  /**
   * `push` without an array and a result per chunk: appends the frames `chunk` completes to `out`
   * and returns the error, if any (terminal as with `push`; frames appended before it stay). For
   * bulk transfers, where every received chunk is pushed; the connection prefers it when present.
   */
  readonly pushInto?: ((chunk: Uint8Array, out: Array<F>) => CodecError.DecodeError | undefined) | undefined
}
