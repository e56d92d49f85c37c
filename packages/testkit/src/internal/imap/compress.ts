/**
 * Server side of IMAP COMPRESS=DEFLATE (RFC 4978): a `Wire` that passes bytes through until
 * `start`, then inflates what the client sends and deflates what the server writes (raw DEFLATE,
 * RFC 1951, no zlib header), each write ending with a sync flush (RFC 4978 §4) so the client can
 * inflate it at once. It sits on top of the TLS wire (compression goes inside TLS).
 *
 * The switch is exact: the session writes its tagged OK uncompressed and calls `start` right after
 * the write call, with the client bytes it already read past the COMPRESS command (the client may
 * send compressed bytes in the same burst); they are inflated before anything that arrives later.
 *
 * A corrupt client stream (or one the client ended) makes the connection count as closed by the
 * client, as a server that drops the connection would. Inflating is asynchronous (node:zlib on the
 * thread pool): listeners are told again when inflated bytes are ready.
 *
 * @internal
 */
import * as Zlib from "node:zlib"
import type * as ImapServer from "../../ImapServer.ts"
import type * as Wire from "../wire.ts"

/** What went through the compressed stream. */
export type Stats = ImapServer.CompressionStats

export interface CompressibleWire extends Wire.Wire {
  readonly compressed: () => boolean
  /** `undefined` until `start`. */
  readonly stats: () => Stats | undefined
  /**
   * Compresses from now on. `leftover`: client bytes already read past the COMPRESS command (they
   * are the first compressed bytes).
   */
  readonly start: (leftover: Uint8Array) => void
}

interface Engine {
  readonly inflater: Zlib.InflateRaw
  readonly deflater: Zlib.DeflateRaw
  /** Inflated client bytes not yet taken. */
  plain: Array<Uint8Array>
  /** Every inflated client byte (for `Stats.textIn`). */
  readonly received: Array<Uint8Array>
  /** Compressed writes to the inflater whose processing has not finished. */
  inflating: number
  /** Deflated output of the write being flushed. */
  out: Array<Uint8Array>
  bytesIn: number
  bytesOut: number
  textOut: number
  failure: string | undefined
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array =>
  parts.length === 0 ? new Uint8Array(0) : parts.length === 1 ? parts[0]! : Buffer.concat(parts)

export const make = (inner: Wire.Wire): CompressibleWire => {
  const listeners = new Set<() => void>()
  let engine: Engine | undefined
  const notify = () => {
    for (const listener of [...listeners]) listener()
  }

  // Compressed client bytes in order to the inflater; the inflater's output is told to listeners.
  const feed = (current: Engine, bytes: Uint8Array) => {
    if (bytes.length === 0 || current.failure !== undefined) return
    current.bytesIn += bytes.length
    current.inflating++
    current.inflater.write(bytes, () => {
      current.inflating--
      notify()
    })
  }
  const pull = (current: Engine) => feed(current, inner.takeAll())

  inner.subscribe(() => {
    if (engine !== undefined) pull(engine)
    notify()
  })

  const takePlain = (current: Engine): Uint8Array => {
    pull(current)
    const all = concat(current.plain)
    current.plain = []
    return all
  }

  const drained = (current: Engine) =>
    current.inflating === 0 && current.plain.length === 0 && current.inflater.readableLength === 0

  const wire: CompressibleWire = {
    ...inner,
    clientClosed: () =>
      engine === undefined
        ? inner.clientClosed()
        : engine.failure !== undefined || (inner.clientClosed() && drained(engine)),
    subscribe: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    takeAll: () => (engine === undefined ? inner.takeAll() : takePlain(engine)),
    takeLine: (maxLength) => {
      if (engine === undefined) return inner.takeLine(maxLength)
      const all = takePlain(engine)
      const lf = all.indexOf(0x0a)
      if (lf === -1) {
        if (all.length > 0) engine.plain = [all]
        if (all.length > maxLength) return { _tag: "TooLong", bytes: all }
        return wire.clientClosed() ? { _tag: "Closed" } : undefined
      }
      const rest = all.subarray(lf + 1)
      if (rest.length > 0) engine.plain = [rest]
      const line = all.subarray(0, lf + 1)
      return line.length > maxLength ? { _tag: "TooLong", bytes: line } : { _tag: "Line", bytes: line }
    },
    write: (bytes, done, afterWrite) => {
      const current = engine
      if (current === undefined) return inner.write(bytes, done, afterWrite)
      if (current.deflater.destroyed) {
        done()
        afterWrite?.()
        return
      }
      current.textOut += bytes.length
      current.deflater.write(bytes)
      // RFC 4978 §4: flush so the client can inflate everything written so far.
      current.deflater.flush(Zlib.constants.Z_SYNC_FLUSH, () => {
        const out = concat(current.out)
        current.out = []
        current.bytesOut += out.length
        inner.write(out, done)
      })
      afterWrite?.()
    },
    destroy: () => {
      engine?.inflater.destroy()
      engine?.deflater.destroy()
      inner.destroy()
    },
    compressed: () => engine !== undefined,
    stats: () =>
      engine === undefined ? undefined : {
        bytesIn: engine.bytesIn,
        bytesOut: engine.bytesOut,
        textIn: concat(engine.received),
        textOut: engine.textOut,
        failure: engine.failure
      },
    start: (leftover) => {
      if (engine !== undefined) return
      const current: Engine = {
        inflater: Zlib.createInflateRaw(),
        deflater: Zlib.createDeflateRaw(),
        plain: [],
        received: [],
        inflating: 0,
        out: [],
        bytesIn: 0,
        bytesOut: 0,
        textOut: 0,
        failure: undefined
      }
      engine = current
      current.inflater.on("data", (chunk: Buffer) => {
        current.plain.push(chunk)
        current.received.push(chunk)
        notify()
      })
      const broken = (detail: string) => {
        current.failure ??= detail
        notify()
      }
      current.inflater.on("error", (error: Error) => broken(error.message))
      // RFC 4978 streams never end: a final block is as bad as garbage.
      current.inflater.on("end", () => broken("the client ended the compressed stream"))
      current.deflater.on("data", (chunk: Buffer) => current.out.push(chunk))
      current.deflater.on("error", () => undefined)
      feed(current, leftover)
      pull(current)
    }
  }
  return wire
}
