/**
 * The SMTP server's client input: bytes taken from the wire, read either as command lines (with a
 * length limit) or as raw payload (DATA content, BDAT chunks). One buffer serves both, so the bytes
 * after a DATA or BDAT command are never read as commands, and the bytes after a payload are read
 * as commands again (RFC 2920 pipelining).
 *
 * @internal
 */

/** A command line, or what stands in for one. */
export type Line =
  /** `text` is the line without its CRLF (latin1, one character per byte). */
  | { readonly _tag: "Line"; readonly text: string; readonly bytes: Uint8Array }
  /** The line ended with a bare LF (RFC 5321 §2.3.8: lines end with CRLF). */
  | { readonly _tag: "BareLf"; readonly bytes: Uint8Array }
  /** Longer than the limit: the whole line was read and dropped. */
  | { readonly _tag: "TooLong"; readonly length: number }

export interface Input {
  readonly push: (bytes: Uint8Array) => void
  /** Buffered bytes. */
  readonly size: () => number
  /** The next line, `undefined` until its LF has arrived. Memory stays bounded by `limit`. */
  readonly line: (limit: number) => Line | undefined
  /** Up to `max` buffered bytes (at least one), `undefined` while none are there. */
  readonly take: (max: number) => Uint8Array | undefined
  /** Puts bytes back in front (what a payload reader read beyond its end). */
  readonly unshift: (bytes: Uint8Array) => void
  /** Removes and returns everything buffered. */
  readonly drain: () => Uint8Array
}

const LF = 0x0a
const CR = 0x0d
const latin1 = new TextDecoder("latin1")

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array =>
  parts.length === 1 ? parts[0]! : Buffer.concat(parts)

export const make = (): Input => {
  let parts: Array<Uint8Array> = []
  let size = 0
  // Length of an over-long line dropped so far (its LF has not arrived yet); -1 when not dropping.
  let dropped = -1

  const input: Input = {
    push: (bytes) => {
      if (bytes.length === 0) return
      parts.push(bytes)
      size += bytes.length
    },
    size: () => size,
    line: (limit) => {
      let scanned = 0
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!
        const lf = part.indexOf(LF)
        if (lf === -1) {
          scanned += part.length
          continue
        }
        const length = scanned + lf + 1
        const head = concat([...parts.slice(0, i), part.subarray(0, lf + 1)])
        const rest = part.subarray(lf + 1)
        parts = rest.length > 0 ? [rest, ...parts.slice(i + 1)] : parts.slice(i + 1)
        size -= length
        if (dropped !== -1) {
          const total = dropped + length
          dropped = -1
          return { _tag: "TooLong", length: total }
        }
        if (length > limit) return { _tag: "TooLong", length }
        if (length < 2 || head[length - 2] !== CR) return { _tag: "BareLf", bytes: head }
        return { _tag: "Line", text: latin1.decode(head.subarray(0, length - 2)), bytes: head }
      }
      if (size > limit) {
        // No LF within the limit: drop what is there and keep dropping up to the LF.
        dropped = (dropped === -1 ? 0 : dropped) + size
        parts = []
        size = 0
      }
      return undefined
    },
    take: (max) => {
      const first = parts[0]
      if (first === undefined || max <= 0) return undefined
      if (first.length <= max) {
        parts.shift()
        size -= first.length
        return first
      }
      parts[0] = first.subarray(max)
      size -= max
      return first.subarray(0, max)
    },
    unshift: (bytes) => {
      if (bytes.length === 0) return
      parts.unshift(bytes)
      size += bytes.length
    },
    drain: () => {
      const all = parts.length === 0 ? new Uint8Array(0) : concat(parts)
      parts = []
      size = 0
      return all
    }
  }
  return input
}
