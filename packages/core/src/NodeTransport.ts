/**
 * `Transport` over Node TCP sockets (`node:net`), upgraded in place with `node:tls`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeNet from "node:net"
import * as DuplexTransport from "./DuplexTransport.ts"
import * as MailError from "./MailError.ts"
import { type ConnectOptions, Transport } from "./Transport.ts"

const open = (options: ConnectOptions) =>
  Effect.acquireRelease(
    Effect.callback<NodeNet.Socket, MailError.MailError>((resume) => {
      const socket = NodeNet.createConnection({
        host: options.host,
        port: options.port,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
      })
      socket.setNoDelay(true)
      const onConnect = () => {
        socket.off("error", onError)
        resume(Effect.succeed(socket))
      }
      const onError = (cause: Error) => {
        socket.off("connect", onConnect)
        socket.destroy()
        resume(Effect.fail(MailError.make(
          new MailError.TransportFailure({
            phase: "connect",
            operation: "connect",
            code: "code" in cause && typeof cause.code === "string" ? cause.code : undefined,
            cause
          })
        )))
      }
      socket.once("connect", onConnect)
      socket.once("error", onError)
      return Effect.sync(() => socket.destroy())
    }).pipe(
      Effect.timeoutOrElse({
        duration: options.timeout,
        orElse: () => Effect.fail(MailError.make(new MailError.Timeout({ phase: "connect", millis: options.timeout })))
      })
    ),
    (socket) => Effect.sync(() => socket.destroy())
  )

/**
 * Connects with `node:net`; the connection is destroyed when its scope closes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = Effect.fnUntraced(function*(options: ConnectOptions) {
  const socket = yield* open(options)
  // A socket error after connect surfaces through the reader; keep Node from treating it as unhandled.
  socket.on("error", () => undefined)
  return yield* DuplexTransport.make(socket)
})

/**
 * The Node transport.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport, Transport.of({ connect }))
