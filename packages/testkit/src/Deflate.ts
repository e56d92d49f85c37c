/**
 * Raw DEFLATE as an RFC 4978 (COMPRESS=DEFLATE) peer produces and reads it, for tests of both
 * sides: each piece written to a zlib stream and sync-flushed on its own (RFC 4978 §4), so the
 * output of each piece is a complete, decodable unit.
 *
 * @since 0.1.0
 */
import * as Zlib from "node:zlib"

/**
 * Writes each piece to `stream` (a `createDeflateRaw()` or `createInflateRaw()`), sync-flushes it,
 * and resolves with the output of each piece; the stream is destroyed at the end.
 *
 * @category combinators
 * @since 0.1.0
 */
export const perFlush = (
  stream: Zlib.DeflateRaw | Zlib.InflateRaw,
  pieces: ReadonlyArray<Uint8Array>
): Promise<Array<Uint8Array>> =>
  new Promise<Array<Uint8Array>>((resolve, reject) => {
    let current: Array<Buffer> = []
    const outputs: Array<Uint8Array> = []
    stream.on("data", (chunk: Buffer) => current.push(chunk))
    stream.on("error", reject)
    const step = (i: number) => {
      if (i === pieces.length) {
        stream.destroy()
        return resolve(outputs)
      }
      stream.write(pieces[i]!)
      stream.flush(Zlib.constants.Z_SYNC_FLUSH, () => {
        outputs.push(Buffer.concat(current))
        current = []
        step(i + 1)
      })
    }
    step(0)
  })
