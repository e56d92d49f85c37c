/**
 * `Transport` over an in-memory duplex pair: no network, but the STARTTLS upgrade is REAL TLS
 * (core's `DuplexTransport` runs `node:tls` over the client end; the server end is handed to a
 * server of the test's choice, which switches to TLS with the committed test certificates).
 *
 * @since 0.1.0
 */
import * as DuplexTransport from "@starttls/core/DuplexTransport"
import { type ConnectOptions, Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type Duplex, duplexPair } from "node:stream"

/**
 * A server for one connection: it gets the server end of the pair and runs in the connection's
 * scope (it is interrupted when the client's scope closes).
 *
 * @category models
 * @since 0.1.0
 */
export type Handler = (server: Duplex, options: ConnectOptions) => Effect.Effect<unknown, unknown, Scope.Scope>

/**
 * Opens an in-memory pair per `connect` and runs `handler` on the server end.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = (handler: Handler) =>
  Effect.fnUntraced(function*(options: ConnectOptions) {
    const [client, server] = duplexPair()
    client.on("error", () => undefined)
    server.on("error", () => undefined)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        client.destroy()
        server.destroy()
      })
    )
    yield* Effect.forkScoped(Effect.ignore(handler(server, options)))
    return yield* DuplexTransport.make(client)
  })

/**
 * The in-memory transport, serving every connection with `handler`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (handler: Handler): Layer.Layer<Transport> =>
  Layer.succeed(Transport, Transport.of({ connect: connect(handler) }))
