/**
 * `ImapClient.downloadEach`: lent body chunks (core `Wire.lend` / `Wire.recycle`) against the
 * stateful in-memory server over real TLS — byte-exact content, the memory of every chunk given
 * back once the callback is done with it (its buffer detached: a chunk kept by mistake reads as
 * empty), the reads of one pull handed over as one merged buffer of the client's own, nothing
 * released that the client did not make (plaintext under the dangerous policy: the server's own
 * buffers stay intact), a callback that fails leaves the connection in step, a missing message is
 * NotFound, and `download` (the Stream) never detaches.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as MailError from "@starttls/core/MailError"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as LoopbackServer from "@starttls/testkit/LoopbackServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import * as H from "./ImapHarness.ts"

/** A message of about `lines` × 60 bytes. */
const messageOf = (lines: number, seed = 0): string => {
  const parts: Array<string> = [`Subject: lent ${seed}\r\n\r\n`]
  for (let i = 0; i < lines; i++) parts.push(`line ${i} of the lent body ${seed} ------------------------\r\n`)
  return parts.join("")
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Buffer => Buffer.concat(chunks)

/** Opens INBOX and runs `f` on it, against `layer`. */
const inInbox = <A, E>(
  layer: Layer.Layer<Transport>,
  f: (inbox: ImapClient.Selected) => Effect.Effect<A, E>,
  streamLiteralsAbove = 64 * 1024
): Effect.Effect<A, E | ImapError.ImapError | MailError.MailError> =>
  Effect.gen(function*() {
    const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, streamLiteralsAbove })
    return yield* f(yield* ImapClient.select(imap, "INBOX"))
  }).pipe(Effect.scoped, Effect.provide(layer))

describe("ImapClient.downloadEach", () => {
  it.live("gives the message byte-exact and releases every chunk once the callback is done with it", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      const big = messageOf(8000) // ~500 KB: many TLS records, several per read
      server.append("alice", "INBOX", big)
      server.append("alice", "INBOX", messageOf(3, 1))
      const seen: Array<Uint8Array> = []
      const copies: Array<Uint8Array> = []
      const after = yield* inInbox(layer, (inbox) =>
        Effect.gen(function*() {
          yield* ImapClient.downloadEach(inbox, 1, (chunk) =>
            Effect.sync(() => {
              seen.push(chunk)
              copies.push(new Uint8Array(chunk))
            }))
          // the connection is in step afterwards
          return yield* Stream.runCollect(ImapClient.download(inbox, 2))
        }))
      assert.strictEqual(concat(copies).toString("latin1"), big)
      assert.isAtLeast(seen.length, 1)
      // Every lent chunk was released: its buffer is detached (length 0), the memory is gone.
      assert.isTrue(seen.every((chunk) => chunk.byteLength === 0 && chunk.buffer.byteLength === 0))
      assert.strictEqual(concat([...after]).toString("latin1"), messageOf(3, 1))
    }))

  it.live("over loopback TCP the reads of one pull come as one chunk (fewer callbacks than TLS records)", () =>
    Effect.gen(function*() {
      const server = yield* ImapServer.make({ users: { alice: H.password }, writeChunkSize: 256 * 1024 })
      const big = messageOf(20_000, 2) // ~1.3 MB: over 80 records of 16 KiB
      server.append("alice", "INBOX", big)
      const loopback = yield* LoopbackServer.make(server.handler)
      const sizes: Array<number> = []
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({
          ...H.options,
          port: loopback.port,
          credentials: H.credentials,
          streamLiteralsAbove: 64 * 1024
        })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        yield* ImapClient.downloadEach(inbox, 1, (chunk) => Effect.sync(() => void sizes.push(chunk.length)))
      }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
      assert.strictEqual(sizes.reduce((a, b) => a + b, 0), Buffer.byteLength(big))
      // Over TCP each read is one TLS record (at most 16 KiB): a bigger chunk is several reads merged.
      assert.isTrue(sizes.some((n) => n > 16 * 1024))
      assert.isBelow(sizes.length, Math.ceil(Buffer.byteLength(big) / (16 * 1024)))
    }))

  it.live("download (the Stream) never releases: collected chunks stay intact", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      const big = messageOf(4000, 3)
      server.append("alice", "INBOX", big)
      const chunks = yield* inInbox(layer, (inbox) => Stream.runCollect(ImapClient.download(inbox, 1)))
      assert.strictEqual(concat([...chunks]).toString("latin1"), big)
    }))

  it.live("in plaintext (dangerous policy) the server's own buffers are never released", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ security: "plaintext" })
      const big = messageOf(6000, 4)
      server.append("alice", "INBOX", big)
      const copies: Array<Uint8Array> = []
      yield* Effect.gen(function*() {
        const plain = yield* ImapClient.connect(H.options)
        const authed = yield* ImapClient.login(plain, "alice", Redacted.make(H.password))
        const inbox = yield* ImapClient.select(authed, "INBOX")
        yield* ImapClient.downloadEach(inbox, 1, (chunk) => Effect.sync(() => void copies.push(new Uint8Array(chunk))))
      }).pipe(
        Effect.scoped,
        Effect.provide(layer),
        Effect.provide(TlsPolicy.allowPlaintextAuthDangerously)
      )
      assert.strictEqual(concat(copies).toString("latin1"), big)
      // The stored message (whose bytes the in-memory transport may hand over as they are) is intact.
      assert.strictEqual(Buffer.from(server.messages("alice", "INBOX")[0]!.bytes).toString("latin1"), big)
    }))

  it.live("a callback that fails ends the FETCH, the rest is drained and the connection stays usable", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ writeChunkSize: 16 * 1024 })
      server.append("alice", "INBOX", messageOf(8000, 5))
      server.append("alice", "INBOX", messageOf(2, 6))
      const result = yield* inInbox(layer, (inbox) =>
        Effect.gen(function*() {
          let n = 0
          const exit = yield* Effect.exit(
            ImapClient.downloadEach(inbox, 1, () => (++n === 2 ? Effect.fail("stop" as const) : Effect.void))
          )
          const next = yield* Stream.runCollect(ImapClient.download(inbox, 2))
          return { exit, next, n }
        }))
      assert.isTrue(Exit.isFailure(result.exit))
      assert.strictEqual(result.n, 2)
      assert.strictEqual(concat([...result.next]).toString("latin1"), messageOf(2, 6))
    }))

  it.live("a message that does not exist is ImapError NotFound, and f never runs", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      server.append("alice", "INBOX", messageOf(2, 7))
      let calls = 0
      const exit = yield* inInbox(layer, (inbox) =>
        Effect.exit(ImapClient.downloadEach(inbox, 9, () => Effect.sync(() => void calls++), { uid: true })))
      assert.strictEqual(H.reason(exit)._tag, "NotFound")
      assert.strictEqual(calls, 0)
    }))

  it.live("property: any server write size gives the same bytes, no callback sees a released chunk", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 6000 }), fc.integer({ min: 1, max: 40_000 }), (lines, writeSize) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const { layer, server } = yield* H.memoryServer({ writeChunkSize: writeSize })
              const body = messageOf(lines, writeSize)
              server.append("alice", "INBOX", body)
              let empty = 0
              const copies: Array<Uint8Array> = []
              yield* inInbox(
                layer,
                (inbox) =>
                  ImapClient.downloadEach(inbox, 1, (chunk) =>
                    Effect.sync(() => {
                      if (chunk.byteLength === 0) empty++
                      copies.push(new Uint8Array(chunk))
                    })),
                // small and big literals both: buffered (one chunk) or streamed
                lines % 2 === 0 ? 1024 : 64 * 1024
              )
              assert.strictEqual(empty, 0)
              assert.strictEqual(concat(copies).toString("latin1"), body)
            }).pipe(Effect.scoped)
          )
        ),
        { numRuns: 15 }
      )
    ), 60_000)
})
