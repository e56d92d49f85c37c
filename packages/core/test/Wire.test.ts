/**
 * `Wire` with a framer that offers `pushInto` (frames appended to the wire's queue, no array and
 * result per chunk) behaves exactly as with `push`: the same frames in the same order whatever the
 * chunking, and a chunk that fails to frame returns none of its frames, only the error.
 */
import { assert, describe, it } from "@effect/vitest"
import * as CodecError from "@starttls/core/CodecError"
import type * as Framer from "@starttls/core/Framer"
import * as Limits from "@starttls/core/Limits"
import * as MailError from "@starttls/core/MailError"
import type * as Tls from "@starttls/core/Tls"
import { IoError, type TransportConnection } from "@starttls/core/Transport"
import * as Wire from "@starttls/core/Wire"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as fc from "fast-check"

/** CRLF lines; a line ending in a bare LF is malformed. Appends the lines before a bad one. */
const frameLines = (state: { rest: string }, chunk: Uint8Array, out: Array<string>): CodecError.DecodeError | undefined => {
  let text = state.rest + Buffer.from(chunk).toString("latin1")
  let lf = text.indexOf("\n")
  while (lf >= 0) {
    if (lf === 0 || text[lf - 1] !== "\r") {
      return new CodecError.MalformedInput({ grammar: "line", detail: "bare LF", preview: text.slice(0, lf + 1) })
    }
    out.push(text.slice(0, lf - 1))
    text = text.slice(lf + 1)
    lf = text.indexOf("\n")
  }
  state.rest = text
  return undefined
}

const pushOnly = (): Framer.Framer<string> => {
  const state = { rest: "" }
  return {
    push: (chunk) => {
      const out: Array<string> = []
      const error = frameLines(state, chunk, out)
      return error === undefined ? Result.succeed(out) : Result.fail(error)
    },
    buffered: () => state.rest.length,
    pendingPreview: () => Buffer.from(state.rest, "latin1")
  }
}

const withPushInto = (): Framer.Framer<string> => {
  const state = { rest: "" }
  let failed: CodecError.DecodeError | undefined
  return {
    // a wire that called this instead of pushInto would fail every read (the tests would see it)
    push: () =>
      Result.fail(
        new CodecError.MalformedInput({ grammar: "test", detail: "the wire must use pushInto when it is there", preview: "" })
      ),
    pushInto: (chunk, out) => (failed ??= frameLines(state, chunk, out)),
    buffered: () => state.rest.length,
    pendingPreview: () => Buffer.from(state.rest, "latin1")
  }
}

const session: Tls.TlsSession = {
  protocol: "TLSv1.3",
  cipher: "TEST",
  verified: true,
  peerSpkiSha256: undefined,
  channelBinding: undefined
}

/**
 * A transport that replays `chunks`, one per pull, then reports the close. Secure: whole chunks go
 * to the framer; plaintext: the wire frames line by line (the STARTTLS injection check).
 */
const replay = (chunks: ReadonlyArray<Uint8Array>, secure: boolean): TransportConnection => {
  let index = 0
  return {
    pull: Effect.suspend(() => {
      const chunk = chunks[index++]
      return chunk === undefined ? Effect.fail(new IoError({ operation: "closed" })) : Effect.succeed([chunk])
    }),
    write: () => Effect.void,
    upgrade: () => Effect.fail(MailError.make(new MailError.ProtocolViolation({ phase: "handshake", detail: "replay" }))),
    tls: () => (secure ? session : undefined),
    destroy: Effect.void
  }
}

/** A LINE wire over `connection` with a `command` deadline. */
const lineWire = (connection: TransportConnection, makeFramer: () => Framer.Framer<string>, command = 2_000) =>
  Wire.make(connection, { protocol: "LINE", host: "test", port: 1, timeouts: Limits.timeouts({ command }), makeFramer })

/** The tag of the `MailError` a failed exit carries ("defect" for anything else). */
const failureTag = <A>(exit: Exit.Exit<A, MailError.MailError>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  return error?._tag === "Fail" ? error.error.reason._tag : "defect"
}

/** Every frame until the wire fails; the failure's tag. */
const readAll = (chunks: ReadonlyArray<Uint8Array>, makeFramer: () => Framer.Framer<string>, secure: boolean) =>
  Effect.gen(function*() {
    const wire = yield* lineWire(replay(chunks, secure), makeFramer)
    const frames: Array<string> = []
    while (true) {
      const exit = yield* Effect.exit(wire.next("command"))
      if (Exit.isFailure(exit)) return { frames, failure: failureTag(exit) }
      frames.push(exit.value)
    }
  }).pipe(Effect.scoped)

const bytes = (text: string) => Buffer.from(text, "latin1")

/** A transport whose pulls wait until `feed` hands them bytes; counts destroys. */
const gated = () => {
  let waiting: ((effect: Effect.Effect<ReadonlyArray<Uint8Array>, IoError>) => void) | undefined
  let destroyed = 0
  const connection: TransportConnection = {
    pull: Effect.callback((resume) => {
      waiting = resume
      return Effect.sync(() => {
        waiting = undefined
      })
    }),
    write: () => Effect.void,
    upgrade: () => Effect.fail(MailError.make(new MailError.ProtocolViolation({ phase: "handshake", detail: "gated" }))),
    tls: () => session,
    // as a socket: destroying it fails the pending read
    destroy: Effect.sync(() => {
      destroyed++
      const resume = waiting
      waiting = undefined
      resume?.(Effect.fail(new IoError({ operation: "closed" })))
    })
  }
  const feed = (text: string) => {
    const resume = waiting
    waiting = undefined
    resume?.(Effect.succeed([bytes(text)]))
  }
  return { connection, feed, destroyed: () => destroyed }
}

describe("Wire reads", () => {
  it.live("an interrupted read leaves no deadline armed: the connection lives on and reads again", () =>
    Effect.gen(function*() {
      const { connection, destroyed, feed } = gated()
      const wire = yield* lineWire(connection, withPushInto, 100)
      const reading = yield* Effect.forkChild(wire.next("command"))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(reading)
      // past the 100 ms deadline of the interrupted read
      yield* Effect.sleep("250 millis")
      assert.strictEqual(destroyed(), 0)
      const next = yield* Effect.forkChild(wire.next("command"))
      yield* Effect.sleep("5 millis")
      feed("hello\r\n")
      assert.strictEqual(yield* Fiber.join(next), "hello")
    }).pipe(Effect.scoped))

  it.live("a read past its deadline destroys the connection and fails with Timeout", () =>
    Effect.gen(function*() {
      const { connection, destroyed } = gated()
      const wire = yield* lineWire(connection, withPushInto, 50)
      const exit = yield* Effect.exit(wire.next("command"))
      assert.strictEqual(destroyed(), 1)
      assert.strictEqual(failureTag(exit), "Timeout")
    }).pipe(Effect.scoped))
})

describe("Wire with a pushInto framer", () => {
  it.effect("a chunk that fails to frame returns none of its frames, as with push", () =>
    Effect.gen(function*() {
      const chunks = [bytes("a\r\nb\r\n"), bytes("c\r\nd\n"), bytes("e\r\n")]
      const secure = yield* readAll(chunks, withPushInto, true)
      assert.deepStrictEqual(secure, { frames: ["a", "b"], failure: "ProtocolViolation" })
      assert.deepStrictEqual(secure, yield* readAll(chunks, pushOnly, true))
      // in plaintext the wire frames line by line: "c" is a chunk of its own
      const plain = yield* readAll(chunks, withPushInto, false)
      assert.deepStrictEqual(plain, { frames: ["a", "b", "c"], failure: "ProtocolViolation" })
      assert.deepStrictEqual(plain, yield* readAll(chunks, pushOnly, false))
    }))

  it.effect("property: any chunking gives the same frames and the same end as push", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom("x", "yz", "\r\n", "\n", "\r", "long line "), { maxLength: 40 }),
          fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }),
          fc.boolean(),
          (pieces, sizes, secure) => {
            const all = bytes(pieces.join(""))
            const chunks: Array<Uint8Array> = []
            for (let at = 0, i = 0; at < all.length; i++) {
              const size = sizes[i % sizes.length]!
              chunks.push(all.subarray(at, at + size))
              at += size
            }
            return Effect.runPromise(Effect.gen(function*() {
              const into = yield* readAll(chunks, withPushInto, secure)
              const plain = yield* readAll(chunks, pushOnly, secure)
              assert.deepStrictEqual(into, plain)
            }))
          }
        ),
        { numRuns: 200 }
      )
    ))
})
