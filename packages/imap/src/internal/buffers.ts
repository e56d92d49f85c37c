/**
 * Buffer's native slicing and writing methods, called without `toString` / `write`'s argument
 * handling (on the parser's hot path that handling costs as much as the work itself). Node installs
 * `latin1Slice`, `utf8Slice` and `base64Write` on `Buffer.prototype`; where a platform does not,
 * the public methods are used.
 *
 * @internal
 */
import { Buffer } from "node:buffer"

const native = Buffer.prototype as unknown as {
  readonly latin1Slice?: (start: number, end: number) => string
  readonly utf8Slice?: (start: number, end: number) => string
  readonly base64Write?: (string: string, offset: number, length: number) => number
}
const nativeLatin1Slice = native.latin1Slice
const nativeUtf8Slice = native.utf8Slice
const nativeBase64Write = native.base64Write

/** The bytes as a Buffer (a view of the same memory when they are not one). */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** `bytes[start, end)` decoded as latin1. */
export const latin1Slice = nativeLatin1Slice === undefined
  ? (bytes: Uint8Array, start: number, end: number): string => asBuffer(bytes).toString("latin1", start, end)
  : (bytes: Uint8Array, start: number, end: number): string => nativeLatin1Slice.call(bytes, start, end)

/** `bytes[start, end)` decoded as UTF-8. */
export const utf8Slice = nativeUtf8Slice === undefined
  ? (bytes: Uint8Array, start: number, end: number): string => asBuffer(bytes).toString("utf8", start, end)
  : (bytes: Uint8Array, start: number, end: number): string => nativeUtf8Slice.call(bytes, start, end)

/** Writes base64 `text` decoded into `buf` from `offset`; returns the bytes written. */
export const base64Write = nativeBase64Write === undefined
  ? (buf: Buffer, text: string, offset: number): number => buf.write(text, offset, "base64")
  : (buf: Buffer, text: string, offset: number): number => nativeBase64Write.call(buf, text, offset, buf.length - offset)
