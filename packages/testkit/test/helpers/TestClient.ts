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
  readonly write: (data: string | Uint8Array) => Effect.Effect<void>
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
  const notify = () => {
    for (const l of [...listeners]) l()
  }
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("latin1")
    received.push({ phase, text })
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

  return {
    received,
    write: (data) =>
      Effect.callback<void>((resume) => {
        current.write(data, () => resume(Effect.void))
      }),
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
      current.destroy()
      raw.destroy()
    })
  }
}
