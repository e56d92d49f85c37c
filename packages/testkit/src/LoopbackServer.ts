/**
 * A TCP server on the loopback interface (127.0.0.1, a free port chosen by the kernel) for tests of
 * the real `NodeTransport`: every accepted socket is handed to a handler, typically
 * `ScriptedServer.run`, and each handler's result can be awaited with `next`. It never listens on
 * anything but 127.0.0.1. Closing the scope destroys the open sockets, interrupts the handlers and
 * closes the listener.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import type * as Recording from "./Recording.ts"
import * as ScriptedServer from "./ScriptedServer.ts"
import type * as Transcript from "./Transcript.ts"

/**
 * The only address the server listens on.
 *
 * @category models
 * @since 0.1.0
 */
export const host = "127.0.0.1"

/**
 * A listening loopback server.
 *
 * @category models
 * @since 0.1.0
 */
export interface LoopbackServer<A, E> {
  readonly host: typeof host
  readonly port: number
  /** The result of the next handler to finish (handlers finish in any order). */
  readonly next: Effect.Effect<Exit.Exit<A, E>>
}

/**
 * The server could not listen.
 *
 * @category errors
 * @since 0.1.0
 */
export class ListenError extends Data.TaggedError("ListenError")<{ readonly cause: unknown }> {
  override get message(): string {
    return `cannot listen on ${host}: ${String(this.cause)}`
  }
}

/**
 * Listens on 127.0.0.1, port 0, and runs `handler` for every accepted socket.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A, E, R = never>(
  handler: (socket: Net.Socket) => Effect.Effect<A, E, R>
): Effect.Effect<LoopbackServer<A, E>, ListenError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const results = yield* Queue.unbounded<Exit.Exit<A, E>>()
    const runFork = yield* FiberSet.makeRuntime<R>()
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      runFork(Effect.flatMap(Effect.exit(handler(socket)), (exit) => Queue.offer(results, exit)))
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
    )
    const port = yield* Effect.callback<number, ListenError>((resume) => {
      const onError = (cause: Error) => resume(Effect.fail(new ListenError({ cause })))
      server.once("error", onError)
      server.listen(0, host, () => {
        server.off("error", onError)
        const address = server.address()
        resume(
          typeof address === "object" && address !== null
            ? Effect.succeed(address.port)
            : Effect.fail(new ListenError({ cause: address }))
        )
      })
    })
    return { host, port, next: Queue.take(results) }
  })

/**
 * A loopback server that plays `transcript` on every accepted connection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const scripted = (
  transcript: Transcript.Transcript,
  options?: ScriptedServer.Options
): Effect.Effect<
  LoopbackServer<Recording.Recording, ScriptedServer.ScriptMismatch>,
  ListenError,
  Scope.Scope
> => make((socket) => ScriptedServer.run(socket, transcript, options))
