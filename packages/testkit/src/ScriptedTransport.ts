/**
 * core's `Transport` served by a transcript: every connection gets an in-memory duplex pair whose
 * server end runs `ScriptedServer.run` with the transcript (real TLS at `-- starttls`), while the
 * client end is core's `DuplexTransport`. The server fibers live in the caller's scope.
 *
 * @since 0.1.0
 */
import * as DuplexTransport from "@starttls/core/DuplexTransport"
import { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { duplexPair } from "node:stream"
import type * as Recording from "./Recording.ts"
import * as ScriptedServer from "./ScriptedServer.ts"
import * as Transcript from "./Transcript.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface ScriptedTransport {
  readonly layer: Layer.Layer<Transport>
  /** The recording of the first connection (fails with the diff on a script mismatch). */
  readonly recording: Effect.Effect<Recording.Recording, ScriptedServer.ScriptMismatch>
  /** How many connections the client opened (no retry, no fallback: ATTACKS.md §3.6 invariant 7). */
  readonly connections: () => number
}

/**
 * Serves every connection with the transcript `source` (a transcript that does not parse is a
 * defect: it is the test's own text).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  source: string,
  serverOptions?: ScriptedServer.Options
): Effect.Effect<ScriptedTransport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const transcript = Result.getOrThrow(Transcript.parse(source))
    const scope = yield* Effect.scope
    const runs: Array<Fiber.Fiber<Recording.Recording, ScriptedServer.ScriptMismatch>> = []
    const layer = Layer.succeed(
      Transport,
      Transport.of({
        connect: () =>
          Effect.gen(function*() {
            const [client, server] = duplexPair()
            client.on("error", () => undefined)
            server.on("error", () => undefined)
            yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
            runs.push(yield* Effect.forkIn(ScriptedServer.run(server, transcript, serverOptions), scope))
            return yield* DuplexTransport.make(client)
          })
      })
    )
    return { layer, recording: Effect.suspend(() => Fiber.join(runs[0]!)), connections: () => runs.length }
  })
