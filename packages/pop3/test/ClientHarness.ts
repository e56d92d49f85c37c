/**
 * Test harness of the POP3 client tests: connection options that trust the testkit CA, a transport
 * layer serving a `ScriptedServer` transcript (with its `Recording` to await), and one serving the
 * stateful `Pop3Server`.
 */
import { assert } from "@effect/vitest"
import * as Certificates from "@starttls/testkit/Certificates"
import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
import type * as Pop3Server from "@starttls/testkit/Pop3Server"
import type * as Recording from "@starttls/testkit/Recording"
import * as ScriptedServer from "@starttls/testkit/ScriptedServer"
import * as Transcript from "@starttls/testkit/Transcript"
import type { Transport } from "@starttls/core/Transport"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Result from "effect/Result"

/**
 * Transcript lines of a negotiation: the greeting, STLS accepted, TLS, then CAPA answered with
 * `caps` (terminated unless `open`: the caller writes more lines of the answer).
 */
export const stls = (
  caps: ReadonlyArray<string>,
  options: { readonly greeting?: string; readonly open?: boolean } = {}
): string =>
  [
    `S: ${options.greeting ?? "+OK ready"}`,
    "C: STLS",
    "S: +OK go",
    "-- starttls",
    "C: CAPA",
    "S: +OK",
    ...caps.map((c) => `S+ ${c}`),
    ...(options.open === true ? [] : ["S+ ."])
  ].join("\n") + "\n"

/** STLS port options trusting only the testkit CA. */
export const options = { host: "localhost", port: 110, tls: { trustOnly: [Certificates.ca.cert] } } as const

/** Implicit-TLS options. */
export const tlsOptions = { ...options, port: 995 } as const

export interface Scripted {
  readonly layer: Layer.Layer<Transport>
  /** The server's recording once the script has ended (or the mismatch that ended it). */
  readonly recording: Effect.Effect<Recording.Recording, ScriptedServer.ScriptMismatch>
}

/** A transport whose one connection plays `source` (a transcript). */
export const scripted = (source: string, serverOptions?: ScriptedServer.Options): Scripted => {
  const transcript = Result.getOrThrow(Transcript.parse(source))
  const done = Deferred.makeUnsafe<Recording.Recording, ScriptedServer.ScriptMismatch>()
  // Detached from the connection's scope: when the client closes its scope, the server sees the
  // close and finishes its recording instead of being interrupted.
  const layer = MemoryTransport.layer((duplex) =>
    Effect.forkDetach(
      Effect.exit(ScriptedServer.run(duplex, transcript, { timeoutMs: 2000, lingerMs: 50, ...serverOptions })).pipe(
        Effect.flatMap((exit) => Deferred.done(done, exit))
      )
    )
  )
  return { layer, recording: Deferred.await(done) }
}

/**
 * Runs `program` against a transcript; returns its exit and the server's recording. With
 * `tolerateUnreadWrite`, a client that hung up before taking the server's last write is fine (the
 * recording is still what it sent).
 */
export const against = <A, E>(
  source: string,
  program: Effect.Effect<A, E, Transport | Scope.Scope>,
  tolerateUnreadWrite = false
) =>
  Effect.gen(function*() {
    // A write nobody reads is given up on sooner when that is expected.
    const script = scripted(source, tolerateUnreadWrite ? { timeoutMs: 300 } : undefined)
    const exit = yield* Effect.exit(Effect.scoped(program).pipe(Effect.provide(script.layer)))
    const recording = yield* (tolerateUnreadWrite
      ? Effect.catchTag(script.recording, "ScriptMismatch", (e) =>
        e.reason === "Timeout" && e.expected === "the client to read the server's write"
          ? Effect.succeed(e.recording)
          : Effect.fail(e))
      : script.recording)
    return { exit, recording }
  })

/** The client bytes sent over TLS, one entry per chunk as it arrived. */
export const tlsChunks = (recording: Recording.Recording): ReadonlyArray<string> =>
  recording.chunks.filter((c) => c.phase === "tls").map((c) => text(c.bytes))

/**
 * A transport serving every connection with the stateful fake server (detached from the client's
 * scope, so a session ends as the server sees it end, not by interruption).
 */
export const serving = (server: Pop3Server.Pop3Server): Layer.Layer<Transport> =>
  MemoryTransport.layer((duplex) => Effect.forkDetach(server.handler(duplex)))

/** Like `serving`, calling `onConnect` for every connection opened. */
export const servingCounted = (server: Pop3Server.Pop3Server, onConnect: () => void): Layer.Layer<Transport> =>
  MemoryTransport.layer((duplex) => Effect.andThen(Effect.sync(onConnect), Effect.forkDetach(server.handler(duplex))))

/** The bytes of a text, for comparisons. */
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/** A text of bytes (latin1, byte for byte). */
export const text = (data: Uint8Array): string => Buffer.from(data).toString("latin1")

/** The value of a successful exit; fails the test with the cause otherwise. */
export const value = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  return assert.fail(`expected success, got ${Cause.pretty(exit.cause)}`)
}
