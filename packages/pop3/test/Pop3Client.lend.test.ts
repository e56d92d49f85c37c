/**
 * `Pop3Client.retrieveEach`: lent body chunks (core `Wire.lend` / `Wire.recycle`) against the
 * stateful in-memory server over real TLS — byte-exact content, the memory of every chunk given
 * back once the callback is done with it (its buffer detached), nothing released that the client
 * did not make (plaintext under the dangerous policy: the peer's own buffers), a callback that
 * fails or stops early leaves the connection in step, and `retrieve` (the Stream) never detaches.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as H from "./ClientHarness.ts"

const credentials = Credentials.password({ username: "test", password: Redacted.make("secret") })

/** A body of `lines` numbered lines (some dot-leading), about 60 bytes each. */
const bodyOf = (lines: number, seed = 0): Uint8Array => {
  const parts: Array<string> = ["Subject: lent\r\n\r\n"]
  for (let i = 0; i < lines; i++) parts.push(`${(i + seed) % 7 === 0 ? "." : ""}line ${i} of the lent body ${seed} -----\r\n`)
  return Buffer.from(parts.join(""))
}

const serve = (messages: ReadonlyArray<Uint8Array>, security: "starttls" | "plaintext" = "starttls") =>
  Pop3Server.make({ users: { test: { password: "secret", messages: [...messages] } }, security })

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(chunks)

describe("Pop3Client.retrieveEach", () => {
  it.effect("gives the body byte-exact and releases every chunk once the callback is done with it", () =>
    Effect.gen(function*() {
      const message = bodyOf(4000) // ~240 KB: many TLS records
      const server = yield* serve([message, bodyOf(3)])
      const seen: Array<Uint8Array> = []
      const copies: Array<Uint8Array> = []
      const after = yield* Effect.gen(function*() {
        const pop3 = yield* Pop3Client.session({ ...H.options, credentials })
        yield* Pop3Client.retrieveEach(pop3, 1, (chunk) =>
          Effect.sync(() => {
            seen.push(chunk)
            copies.push(new Uint8Array(chunk))
          }))
        // The connection is in step afterwards.
        return yield* Stream.runCollect(Pop3Client.retrieve(pop3, 2))
      }).pipe(Effect.scoped, Effect.provide(H.serving(server)))
      assert.deepStrictEqual(concat(copies), Buffer.from(message))
      assert.isAtLeast(seen.length, 1)
      // Every lent chunk was released: its buffer is detached (length 0), the memory is gone.
      assert.isTrue(seen.every((chunk) => chunk.byteLength === 0 && chunk.buffer.byteLength === 0))
      assert.deepStrictEqual(concat([...after]), Buffer.from(bodyOf(3)))
    }))

  it.effect("retrieve (the Stream) never releases: collected chunks stay intact", () =>
    Effect.gen(function*() {
      const message = bodyOf(2000, 3)
      const server = yield* serve([message])
      const chunks = yield* Effect.flatMap(
        Pop3Client.session({ ...H.options, credentials }),
        (pop3) => Stream.runCollect(Pop3Client.retrieve(pop3, 1))
      ).pipe(Effect.scoped, Effect.provide(H.serving(server)))
      assert.deepStrictEqual(concat([...chunks]), Buffer.from(message))
    }))

  it.effect("in plaintext (dangerous policy) the peer's own buffers are never released", () =>
    Effect.gen(function*() {
      const message = bodyOf(500, 5)
      const server = yield* serve([message], "plaintext")
      const seen: Array<Uint8Array> = []
      const copies: Array<Uint8Array> = []
      yield* Effect.gen(function*() {
        const plain = yield* Pop3Client.connect(H.options)
        const pop3 = yield* Pop3Client.login(plain, credentials)
        yield* Pop3Client.retrieveEach(pop3, 1, (chunk) =>
          Effect.sync(() => {
            seen.push(chunk)
            copies.push(new Uint8Array(chunk))
          }))
      }).pipe(Effect.scoped, Effect.provide(H.serving(server)), Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
      // Byte-exact; what was handed over as it was (the peer's bytes) is never released (only
      // merged batches, the client's own buffers, are): the server's stored message is intact.
      assert.deepStrictEqual(concat(copies), Buffer.from(message))
      assert.strictEqual(seen.length, copies.length)
      assert.deepStrictEqual(Buffer.from(server.maildrop("test")[0]!.bytes), Buffer.from(message))
    }))

  it.effect("a callback that fails ends the RETR, the rest is drained and the connection stays usable", () =>
    Effect.gen(function*() {
      const message = bodyOf(3000, 1)
      const server = yield* serve([message, bodyOf(2, 2)])
      const result = yield* Effect.gen(function*() {
        const pop3 = yield* Pop3Client.session({ ...H.options, credentials })
        let n = 0
        const exit = yield* Effect.exit(
          Pop3Client.retrieveEach(pop3, 1, () => (++n === 1 ? Effect.fail("stop" as const) : Effect.void))
        )
        const next = yield* Stream.runCollect(Pop3Client.retrieve(pop3, 2))
        return { exit, next }
      }).pipe(Effect.scoped, Effect.provide(H.serving(server)))
      assert.isTrue(Exit.isFailure(result.exit))
      assert.deepStrictEqual(concat([...result.next]), Buffer.from(bodyOf(2, 2)))
    }))

  // Which chunks can be released depends on how the transport hands over decrypted bytes (the
  // in-memory transport may put several records in one 64 KiB buffer: not released); what must
  // hold whatever the writes: byte-exact, and no callback ever sees a released chunk.
  it.effect("property: any server write size gives the same bytes, no chunk is released before its callback", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 20_000 }), (lines, writeSize) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const message = bodyOf(lines, writeSize)
              const server = yield* Pop3Server.make({
                users: { test: { password: "secret", messages: [message] } },
                chunkSize: writeSize
              })
              let empty = 0
              const copies: Array<Uint8Array> = []
              yield* Effect.flatMap(
                Pop3Client.session({ ...H.options, credentials }),
                (pop3) =>
                  Pop3Client.retrieveEach(pop3, 1, (chunk) =>
                    Effect.sync(() => {
                      if (chunk.byteLength === 0) empty++
                      copies.push(new Uint8Array(chunk))
                    }))
              ).pipe(Effect.scoped, Effect.provide(H.serving(server)))
              assert.strictEqual(empty, 0)
              assert.deepStrictEqual(concat(copies), Buffer.from(message))
            })
          )
        ),
        { numRuns: 15 }
      )
    ), 60_000)
})
