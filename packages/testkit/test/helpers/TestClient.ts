/**
 * A minimal hand-driven client for the testkit's own tests: plain `node:stream` / `node:tls` calls
 * wrapped in Effect. It records every chunk it receives (boundaries kept) so tests can check the
 * server's write boundaries.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Duplex } from "node:stream"
import * as NodeTls from "node:tls"
import * as Zlib from "node:zlib"

export interface Received {
  readonly phase: "plain" | "tls"
  readonly text: string
}

export class ClientError extends Data.TaggedError("ClientError")<{
  readonly reason: "closed" | "timeout" | "tls"
  readonly code?: string | undefined
}> {}

export interface TestClient {
  /** Every chunk received so far, in order. */
  readonly received: ReadonlyArray<Received>
  /** Writes `data` (deflated and flushed once `compressSending` was called). */
  readonly write: (data: string | Uint8Array) => Effect.Effect<void>
  /** Writes `data` as it is, compressed or not. */
  readonly writeRaw: (data: string | Uint8Array) => Effect.Effect<void>
  /** Raw DEFLATE of `data` ended with a sync flush (RFC 4978 §4), as the next compressed write would carry it. */
  readonly deflate: (data: string | Uint8Array) => Effect.Effect<Uint8Array>
  /** IMAP COMPRESS (RFC 4978), client side: deflates what `write` sends from now on. */
  readonly compressSending: () => void
  /** Inflates what is received from now on; the bytes not read yet are the first compressed ones. */
  readonly compressReceiving: () => void
  /** The next line (with its CRLF) as latin1 text. */
  readonly readLine: Effect.Effect<string, ClientError>
  /** Waits until `n` chunks have been received in total. */
  readonly awaitChunks: (n: number) => Effect.Effect<ReadonlyArray<Received>, ClientError>
  /** Waits until the server has closed the connection. */
  readonly awaitClosed: Effect.Effect<void, ClientError>
  /** Handshakes as a TLS client over the same stream. */
  readonly startTls: (options: NodeTls.ConnectionOptions) => Effect.Effect<NodeTls.TLSSocket, ClientError>
  readonly end: Effect.Effect<void>
  readonly destroy: Effect.Effect<void>
}

const WAIT = Duration.seconds(3)

const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined

export const make = (raw: Duplex): TestClient => {
  const received: Array<Received> = []
  const listeners = new Set<() => void>()
  let buffer = ""
  let closed = false
  let current: Duplex = raw
  let phase: "plain" | "tls" = "plain"
  let inflater: Zlib.InflateRaw | undefined
  let deflater: Zlib.DeflateRaw | undefined
  let deflated: Array<Buffer> = []
  let sendCompressed = false
  const notify = () => {
    for (const l of [...listeners]) l()
  }
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("latin1")
    received.push({ phase, text })
    if (inflater !== undefined) {
      inflater.write(chunk)
      return
    }
    buffer += text
    notify()
  }
  const onClosed = () => {
    closed = true
    notify()
  }
  const attach = (stream: Duplex) => {
    stream.on("data", onData)
    stream.on("end", onClosed)
    stream.on("close", onClosed)
    stream.on("error", onClosed)
  }
  const detach = (stream: Duplex) => {
    stream.off("data", onData)
    stream.off("end", onClosed)
    stream.off("close", onClosed)
    stream.off("error", onClosed)
  }
  attach(raw)

  const waitFor = <A>(check: () => A | undefined): Effect.Effect<A, ClientError> =>
    Effect.callback<A, ClientError>((resume) => {
      const attempt = () => {
        const value = check()
        if (value !== undefined) {
          listeners.delete(attempt)
          resume(Effect.succeed(value))
        } else if (closed) {
          listeners.delete(attempt)
          resume(Effect.fail(new ClientError({ reason: "closed" })))
        }
      }
      listeners.add(attempt)
      attempt()
      return Effect.sync(() => listeners.delete(attempt))
    }).pipe(Effect.timeoutOrElse({
      duration: WAIT,
      orElse: () => Effect.fail(new ClientError({ reason: "timeout" }))
    }))

  const writeRaw = (data: string | Uint8Array) =>
    Effect.callback<void>((resume) => {
      current.write(data, () => resume(Effect.void))
    })
  const deflate = (data: string | Uint8Array) =>
    Effect.callback<Uint8Array>((resume) => {
      if (deflater === undefined) {
        deflater = Zlib.createDeflateRaw()
        deflater.on("data", (chunk: Buffer) => deflated.push(chunk))
      }
      const engine = deflater
      engine.write(typeof data === "string" ? Buffer.from(data, "latin1") : data)
      engine.flush(Zlib.constants.Z_SYNC_FLUSH, () => {
        const out = Buffer.concat(deflated)
        deflated = []
        resume(Effect.succeed(out))
      })
    })

  return {
    received,
    write: (data) => (sendCompressed ? Effect.flatMap(deflate(data), writeRaw) : writeRaw(data)),
    writeRaw,
    deflate,
    compressSending: () => {
      sendCompressed = true
    },
    compressReceiving: () => {
      const engine = Zlib.createInflateRaw()
      inflater = engine
      engine.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("latin1")
        notify()
      })
      engine.on("error", onClosed)
      const rest = buffer
      buffer = ""
      if (rest.length > 0) engine.write(Buffer.from(rest, "latin1"))
    },
    readLine: waitFor(() => {
      const lf = buffer.indexOf("\n")
      if (lf === -1) return undefined
      const line = buffer.slice(0, lf + 1)
      buffer = buffer.slice(lf + 1)
      return line
    }),
    awaitChunks: (n) => waitFor(() => received.length >= n ? [...received] : undefined),
    awaitClosed: waitFor(() => closed ? true : undefined).pipe(
      Effect.catchTag("ClientError", (e) => e.reason === "closed" ? Effect.void : Effect.fail(e)),
      Effect.asVoid
    ),
    startTls: (options) =>
      Effect.callback<NodeTls.TLSSocket, ClientError>((resume) => {
        raw.pause()
        detach(raw)
        const socket = NodeTls.connect({ ...options, socket: raw })
        phase = "tls"
        current = socket
        attach(socket)
        socket.once("secureConnect", () => resume(Effect.succeed(socket)))
        socket.once("error", (error) => resume(Effect.fail(new ClientError({ reason: "tls", code: errorCode(error) }))))
      }).pipe(Effect.timeoutOrElse({
        duration: WAIT,
        orElse: () => Effect.fail(new ClientError({ reason: "timeout" }))
      })),
    end: Effect.sync(() => {
      current.end()
    }),
    destroy: Effect.sync(() => {
      inflater?.destroy()
      deflater?.destroy()
      current.destroy()
      raw.destroy()
    })
  }
}
