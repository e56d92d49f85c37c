/**
 * The pool against the in-memory server: concurrency bounded by `maxConnections`, QUIT after
 * `maxMessagesPerConnection`, idle connections closed, reconnecting after a server shutdown, and
 * never retrying a message that may have been delivered.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as SmtpPool from "../src/SmtpPool.ts"
import { credentials, memoryServer, options, reason } from "./ClientHarness.ts"

const env = { from: "a@example.com", to: ["b@example.org"] }

const withPool = <A, E>(
  layer: Layer.Layer<any>,
  config: Partial<SmtpPool.Config>,
  program: (pool: SmtpPool.SmtpPool["Service"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    return yield* program(yield* SmtpPool.SmtpPool)
  }).pipe(
    Effect.provide(SmtpPool.layer({ ...options, credentials, ...config })),
    Effect.provide(layer)
  )

const mails = (server: { readonly connections: () => ReadonlyArray<{ readonly entries: ReadonlyArray<{ readonly _tag: string }> }> }) =>
  server.connections().flatMap((c) => tlsVerbs(c).filter((v) => v === "MAIL")).length

const tlsVerbs = (connection: { readonly entries: ReadonlyArray<{ readonly _tag: string }> }) =>
  connection.entries.flatMap((e) => (e._tag === "Command" && "verb" in e ? [(e as { readonly verb: string }).verb] : []))

describe("SmtpPool", () => {
  it.live("sends many messages concurrently over at most maxConnections connections", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer()
      const results = yield* withPool(layer, { maxConnections: 2 }, (pool) =>
        Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => pool.send(env, `Subject: ${i}\r\n\r\nbody\r\n`),
          { concurrency: 6 }
        ))
      assert.strictEqual(results.length, 12)
      assert.strictEqual(server.messages().length, 12)
      assert.isAtMost(server.connections().length, 2)
      const subjects = server.messages().map((m) => Buffer.from(m.body).toString().split("\r\n")[0]).sort()
      assert.deepStrictEqual(subjects, Array.from({ length: 12 }, (_, i) => `Subject: ${i}`).sort())
    }))

  it.live("maxMessagesPerConnection: the connection is closed with QUIT and replaced", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer()
      yield* withPool(layer, { maxConnections: 1, maxMessagesPerConnection: 3 }, (pool) =>
        Effect.forEach(Array.from({ length: 7 }), () => pool.send(env, "x\r\n"), { discard: true }))
      const connections = server.connections()
      assert.strictEqual(connections.length, 3)
      assert.deepStrictEqual(connections.map((c) => tlsVerbs(c).filter((v) => v === "MAIL").length), [3, 3, 1])
      for (const c of connections) assert.strictEqual(tlsVerbs(c).at(-1), "QUIT")
    }))

  it.live("an idle connection is closed after idleTimeout", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer()
      yield* withPool(layer, { idleTimeout: "60 millis" }, (pool) =>
        Effect.gen(function*() {
          yield* pool.send(env, "x\r\n")
          const ended = yield* server.ended.pipe(Effect.timeout("1 second"))
          assert.strictEqual(tlsVerbs(ended).at(-1), "QUIT")
          yield* pool.send(env, "y\r\n")
        }))
      assert.strictEqual(server.connections().length, 2)
      assert.strictEqual(server.messages().length, 2)
    }))

  it.live("reconnects after the server shut a pooled connection down (421): the message was not sent, so it is sent again", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer()
      yield* withPool(layer, { maxConnections: 1 }, (pool) =>
        Effect.gen(function*() {
          yield* pool.send(env, "first\r\n")
          yield* server.shutdown
          yield* server.ended
          const result = yield* pool.send(env, "second\r\n")
          assert.deepStrictEqual(result.accepted, ["b@example.org"])
        }))
      assert.deepStrictEqual(server.messages().map((m) => Buffer.from(m.body).toString()), ["first\r\n", "second\r\n"])
      assert.strictEqual(server.connections().length, 2)
    }))

  it.live("never retries what may have been delivered (OutcomeUnknown) or what the server refused", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer({
        faults: { withholdFinalReply: "drop" },
        recipients: { "nobody@example.org": "550 5.1.1 unknown" }
      })
      yield* withPool(layer, { retries: 3 }, (pool) =>
        Effect.gen(function*() {
          assert.strictEqual(reason(yield* Effect.exit(pool.send(env, "x\r\n")))._tag, "OutcomeUnknown")
          assert.strictEqual(mails(server), 1)
          server.setFaults({})
          const refused = reason(yield* Effect.exit(pool.send({ ...env, to: ["nobody@example.org"] }, "x\r\n")))
          assert.strictEqual(refused._tag, "NoRecipientAccepted")
          assert.strictEqual(mails(server), 2)
        }))
    }))

  it.live("a stream already read is not sent again; one that was not read is", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer({ faults: { dropAfterPayloadBytes: 1 } })
      const stream = Stream.make(new TextEncoder().encode("streamed body\r\n"))
      yield* withPool(layer, { retries: 3 }, (pool) =>
        Effect.gen(function*() {
          const r = reason(yield* Effect.exit(pool.send(env, stream)))
          assert.include(["TransportFailure", "OutcomeUnknown"], r._tag)
          assert.strictEqual(mails(server), 1)
          // A stream not read yet: the server shut the pooled connection; MAIL gets 421; sent again.
          server.setFaults({})
          yield* pool.send(env, "warm\r\n")
          yield* server.shutdown
          yield* server.ended
          const result = yield* pool.send(env, stream, { transfer: "DATA" })
          assert.deepStrictEqual(result.accepted, ["b@example.org"])
        }))
      assert.deepStrictEqual(server.messages().map((m) => Buffer.from(m.body).toString()), ["warm\r\n", "streamed body\r\n"])
    }))
})
