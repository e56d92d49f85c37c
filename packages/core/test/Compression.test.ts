import { assert, describe, it } from "@effect/vitest"
import * as Compression from "@starttls/core/Compression"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import * as Limits from "@starttls/core/Limits"
import * as MailError from "@starttls/core/MailError"
import type * as Tls from "@starttls/core/Tls"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import { IoError, type TransportConnection } from "@starttls/core/Transport"
import * as Wire from "@starttls/core/Wire"
import * as WireTrace from "@starttls/core/WireTrace"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Zlib from "node:zlib"
// core does not depend on testkit (dependencies point one way); its tests borrow the in-memory transport.
import { perFlush } from "../../testkit/src/Deflate.ts"
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as MemoryTransport from "../../testkit/src/MemoryTransport.ts"
import { makeInflater, PIECE } from "../src/internal/deflate.ts"
import * as LineDialect from "./LineDialect.ts"
import * as LineServer from "./LineServer.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const options = { host: "localhost", port: 9143, tls: { trustOnly: [LineServer.certs.ca] } }
const alice = Credentials.password({ username: "alice", password: Redacted.make("s3cret") })

const withServer = (config: LineServer.Config) => {
  const rec = LineServer.newRecording()
  const layer = MemoryTransport.layer((server) => LineServer.serve({ users: { alice: "s3cret" }, ...config }, rec)(server))
  return { rec, layer }
}

const authenticated = Connection.session(LineDialect.dialect, { ...options, credentials: alice })

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(parts)

/** One raw DEFLATE stream carrying the groups, each flushed on its own. */
const deflateGroups = async (groups: ReadonlyArray<Uint8Array>) => concat(await perFlush(Zlib.createDeflateRaw(), groups))

/** Inflates consecutive pieces of one raw DEFLATE stream separately: each must decode on its own. */
const inflateEach = async (pieces: ReadonlyArray<Uint8Array>) =>
  (await perFlush(Zlib.createInflateRaw(), pieces)).map((bytes) => decoder.decode(bytes))

/**
 * A decompression bomb: "+OK " then `mebibytes` MiB of "x" and no line end, in about 1 KiB of
 * DEFLATE per MiB. Once the window holds only "x", the block that encodes 1 MiB of "x" can be
 * repeated as often as wanted.
 */
const bomb = async (mebibytes: number) => {
  const x = new Uint8Array(1 << 20).fill(0x78)
  const [head, first, block] = await perFlush(Zlib.createDeflateRaw({ level: 9 }), [encoder.encode("+OK "), x, x])
  return concat([head!, first!, ...Array.from({ length: mebibytes - 1 }, () => block!)])
}

const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const p of points) {
    if (p > start) chunks.push(bytes.subarray(start, p))
    start = Math.max(start, p)
  }
  if (start < bytes.length) chunks.push(bytes.subarray(start))
  return chunks
}

const inPieces = (bytes: Uint8Array, size: number): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return chunks
}

const fakeTls: Tls.TlsSession = {
  protocol: "TLSv1.3",
  cipher: "TEST",
  verified: true,
  peerSpkiSha256: undefined,
  channelBinding: undefined
}

/** A transport that replays `batches` (one per pull) and records every write. */
const stub = (batches: ReadonlyArray<ReadonlyArray<Uint8Array>>, secure = true) => {
  let index = 0
  let pulled = 0
  const written: Array<ReadonlyArray<Uint8Array>> = []
  const connection: TransportConnection = {
    pull: Effect.suspend(() => {
      const batch = batches[index++]
      if (batch === undefined) return Effect.fail(new IoError({ operation: "closed" }))
      for (const chunk of batch) pulled += chunk.length
      return Effect.succeed(batch)
    }),
    write: (chunks) =>
      Effect.sync(() => {
        written.push(chunks)
      }),
    upgrade: () => Effect.fail(MailError.make(new MailError.ProtocolViolation({ phase: "handshake", detail: "stub" }))),
    tls: () => (secure ? fakeTls : undefined),
    destroy: Effect.void
  }
  return { connection, written, pulled: () => pulled }
}

const wireOver = (connection: TransportConnection, limits?: Partial<Limits.Limits>) =>
  Wire.make(connection, {
    protocol: "LINE",
    host: "stub",
    port: 1,
    timeouts: Limits.timeouts({ command: 5_000 }),
    makeFramer: () => LineDialect.makeFramer(Limits.limits(limits))
  })

const REPLY = "+OK DEFLATE active"

/** Reads frames (inside `exact`) up to the COMPRESS reply, then compresses; returns the frames before it. */
const switchOver = (wire: Wire.Wire<string>) =>
  wire.exact(Effect.gen(function*() {
    const before: Array<string> = []
    while (true) {
      const frame = yield* wire.next("command")
      if (frame === REPLY) break
      before.push(frame)
    }
    yield* wire.compress
    return before
  }))

const readLines = (wire: Wire.Wire<string>, count: number) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    while (lines.length < count) lines.push(yield* wire.next("command"))
    return lines
  })

describe("Compression over real in-memory TLS", () => {
  it.live("after COMPRESS, commands and replies are raw DEFLATE both ways; the first compressed bytes share the reply's write", () => {
    const { rec, layer } = withServer({ compressTrailer: "* compressed from the first byte\r\n" })
    return Effect.gen(function*() {
      const authed = yield* authenticated
      assert.isFalse(Compression.isActive(authed))
      yield* Compression.compress(authed, LineDialect.compress())
      assert.isTrue(Compression.isActive(authed))
      assert.isTrue(rec.compressed)
      // Sent by the server in the same write as its reply, compressed.
      assert.strictEqual(yield* authed.session.wire.next("command"), "* compressed from the first byte")
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("hello")), "hello")
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("again")), "again")
      // The server read the commands only through its inflater.
      assert.isTrue(rec.compressedBytesIn > 0)
      assert.isTrue(LineServer.tlsSent(rec).endsWith("COMPRESS DEFLATE\r\nECHO hello\r\nECHO again\r\n"))
      yield* Connection.close(authed)
      assert.isTrue(LineServer.tlsSent(rec).endsWith("QUIT\r\n"))
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("big transfers: a 1 MB line each way and a 1 MB multi-line reply", () => {
    const { rec, layer } = withServer({})
    return Effect.gen(function*() {
      const authed = yield* authenticated
      yield* Compression.compress(authed, LineDialect.compress())
      const text = LineServer.bulkText(1_000_000).replaceAll("\r\n", " ").slice(0, 1_000_000)
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo(text)), text)
      const received = yield* Connection.exchange(authed.session, LineDialect.bulk(1_000_000))
      assert.strictEqual(received, LineServer.bulkText(1_000_000).length)
      // Compressed both ways: far fewer bytes on the wire than text.
      assert.isTrue(rec.compressedBytesIn < 500_000, `client sent ${rec.compressedBytesIn} bytes`)
      assert.isTrue(rec.compressedBytesOut < 1_000_000, `server sent ${rec.compressedBytesOut} bytes`)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("a refusal is CompressionRejected and the connection carries on uncompressed", () => {
    const { rec, layer } = withServer({ compressReply: "-ERR not today" })
    return Effect.gen(function*() {
      const authed = yield* authenticated
      const reason = reasonOf(yield* Effect.exit(Compression.compress(authed, LineDialect.compress())))
      assert.strictEqual(reason._tag, "CompressionRejected")
      if (reason._tag === "CompressionRejected") assert.strictEqual(reason.untrustedReply, "-ERR not today")
      assert.isFalse(Compression.isActive(authed))
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("plain")), "plain")
      assert.strictEqual(rec.compressedBytesIn, 0)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("refused before authentication, with nothing written", () => {
    const { rec, layer } = withServer({})
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      // @ts-expect-error compression needs an Authenticated handle
      const typed = () => Compression.compress(secure, LineDialect.compress())
      assert.isFunction(typed)
      const cast = secure as unknown as Connection.Connection<"Authenticated", string, LineDialect.Caps>
      const reason = reasonOf(yield* Effect.exit(Compression.compress(cast, LineDialect.compress())))
      assert.strictEqual(reason._tag, "PolicyViolation")
      assert.include(reason.message, "after authentication")
      assert.notInclude(LineServer.tlsSent(rec), "COMPRESS")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("without TLS: refused unless allowWithoutTls, then it works in plaintext too", () => {
    const { rec, layer } = withServer({ plainCaps: ["STARTTLS", "AUTH=PLAIN"] })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const authed = yield* Connection.authenticate(plain, alice)
      const reason = reasonOf(yield* Effect.exit(Compression.compress(authed, LineDialect.compress())))
      assert.strictEqual(reason._tag, "PolicyViolation")
      assert.include(reason.message, "allowWithoutTls")
      assert.notInclude(LineServer.plaintextSent(rec), "COMPRESS")
      yield* Compression.compress(authed, LineDialect.compress(), { allowWithoutTls: true })
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("squeezed")), "squeezed")
      assert.isTrue(rec.compressedBytesIn > 0)
      // TLS goes beneath compression, never on top of it.
      const upgrade = reasonOf(yield* Effect.exit(authed.session.wire.startTls({ host: "localhost" })))
      assert.strictEqual(upgrade._tag, "ProtocolViolation")
      assert.include(upgrade.message, "compressed")
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("still fine")), "still fine")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(layer, TlsPolicy.allowPlaintextAuthDangerously)))
  })

  it.live("compression twice is refused before a second COMPRESS is written", () => {
    const { rec, layer } = withServer({})
    return Effect.gen(function*() {
      const authed = yield* authenticated
      yield* Compression.compress(authed, LineDialect.compress())
      const reason = reasonOf(yield* Effect.exit(Compression.compress(authed, LineDialect.compress())))
      assert.strictEqual(reason._tag, "PolicyViolation")
      assert.include(reason.message, "already active")
      const wireLevel = reasonOf(yield* Effect.exit(authed.session.wire.compress))
      assert.strictEqual(wireLevel._tag, "ProtocolViolation")
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("once")), "once")
      assert.strictEqual(LineServer.tlsSent(rec).split("COMPRESS").length, 2)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("a corrupt compressed stream is a ProtocolViolation", () => {
    const { layer } = withServer({ compressRaw: new Uint8Array([0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x13]) })
    return Effect.gen(function*() {
      const authed = yield* authenticated
      yield* Compression.compress(authed, LineDialect.compress())
      const reason = reasonOf(yield* Effect.exit(Connection.exchange(authed.session, LineDialect.echo("x"))))
      assert.strictEqual(reason._tag, "ProtocolViolation")
      assert.include(reason._tag === "ProtocolViolation" ? reason.detail : "", "deflate")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("a decompression bomb (1 KiB → 1 GiB line) ends in LimitExceeded without inflating it", () => {
    return Effect.gen(function*() {
      const { layer } = withServer({ compressRaw: yield* Effect.promise(() => bomb(1024)) })
      const started = yield* Clock.currentTimeMillis
      const reason = yield* Effect.gen(function*() {
        const authed = yield* Connection.session(LineDialect.dialect, {
          ...options,
          credentials: alice,
          limits: { maxLineLength: 64 * 1024 }
        })
        yield* Compression.compress(authed, LineDialect.compress())
        return reasonOf(yield* Effect.exit(Connection.exchange(authed.session, LineDialect.echo("x"))))
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.strictEqual(reason._tag, "LimitExceeded")
      if (reason._tag === "LimitExceeded") assert.strictEqual(reason.limit, "maxLineLength")
      // Inflating 1 GiB takes seconds; stopping at the limit takes milliseconds.
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 1_500)
    })
  })

  it.live("the wire trace shows plaintext lines after compression", () => {
    const { layer } = withServer({})
    const lines: Array<string> = []
    const collector = Logger.make((o) => {
      lines.push((o.message as ReadonlyArray<unknown>).map(String).join(" "))
    })
    return Effect.gen(function*() {
      const authed = yield* authenticated
      yield* Compression.compress(authed, LineDialect.compress())
      yield* Connection.exchange(authed.session, LineDialect.echo("traced"))
      const joined = lines.join("\n")
      assert.include(joined, "C: COMPRESS DEFLATE")
      assert.include(joined, "S: +OK DEFLATE active\\r\\n")
      assert.include(joined, "C: ECHO traced")
      assert.include(joined, "S: +OK traced\\r\\n")
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(layer, WireTrace.layer, Logger.layer([collector]))),
      Effect.provideService(References.MinimumLogLevel, "Debug")
    )
  })
})

describe("Wire: the compression boundary", () => {
  const line = fc.stringMatching(/^[a-z0-9 ]{1,40}$/).map((s) => `* ${s}`)

  it.live("property: frames before the reply, the reply and the compressed stream, any chunking → the same frames", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(line, { maxLength: 2 }),
          fc.array(fc.array(line, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
          fc.array(fc.nat(), { maxLength: 12 }),
          fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 12 }),
          fc.boolean(),
          async (before, groups, cuts, batching, secure) => {
            const plain = encoder.encode([...before, REPLY].map((l) => l + "\r\n").join(""))
            const compressed = await deflateGroups(groups.map((g) => encoder.encode(g.map((l) => l + "\r\n").join(""))))
            const chunks = split(concat([plain, compressed]), cuts)
            const batches: Array<Array<Uint8Array>> = []
            for (let i = 0, b = 0; i < chunks.length; b++) {
              const size = batching[b] ?? 1
              batches.push(chunks.slice(i, i + size))
              i += size
            }
            const expected = groups.flat()
            const { connection } = stub(batches, secure)
            const result = await Effect.runPromise(Effect.gen(function*() {
              const wire = yield* wireOver(connection)
              const seen = yield* switchOver(wire)
              const after = yield* readLines(wire, expected.length)
              return { seen, after, pending: wire.pending() }
            }))
            assert.deepStrictEqual(result.seen, before)
            assert.deepStrictEqual(result.after, expected)
            assert.strictEqual(result.pending, 0)
          }
        ),
        { numRuns: 150 }
      )
    ))

  it.live("every write is deflated on its own, flushed, in one transport write", () => {
    const { connection, written } = stub([[encoder.encode(REPLY + "\r\n")]])
    const texts = ["ECHO one\r\n", "ECHO two\r\nECHO three\r\n", `ECHO ${"y".repeat(300_000)}\r\n`]
    return Effect.gen(function*() {
      const wire = yield* wireOver(connection)
      yield* wire.write([encoder.encode("COMPRESS DEFLATE\r\n")], ["COMPRESS DEFLATE"])
      yield* switchOver(wire)
      for (const text of texts) {
        const bytes = encoder.encode(text)
        // Boundaries inside one write are the caller's business; the write as a whole is flushed.
        yield* wire.write([bytes.subarray(0, 3), bytes.subarray(3)], [text])
      }
      assert.strictEqual(decoder.decode(written[0]![0]!), "COMPRESS DEFLATE\r\n")
      const compressed = written.slice(1)
      assert.deepStrictEqual(compressed.map((w) => w.length), [1, 1, 1])
      assert.isBelow(compressed[2]![0]!.length, 10_000)
      assert.deepStrictEqual(yield* Effect.promise(() => inflateEach(compressed.map((w) => w[0]!))), texts)
    })
  })

  it.live("compressing outside exact is refused: the boundary is lost, the connection is closed", () =>
    Effect.gen(function*() {
      const { connection } = stub([[encoder.encode(`${REPLY}\r\n* whatever`)]])
      const wire = yield* wireOver(connection)
      assert.strictEqual(yield* wire.exact(wire.next("command")), REPLY)
      // Out of exact, the bytes after the reply went to the framer as they came.
      const reason = reasonOf(yield* Effect.exit(wire.compress))
      assert.strictEqual(reason._tag, "ProtocolViolation")
      assert.include(reason._tag === "ProtocolViolation" ? reason.detail : "", "Wire.exact")
      assert.isFalse(wire.compressed())
      assert.strictEqual(reasonOf(yield* Effect.exit(wire.next("command")))._tag, "ProtocolViolation")
    }))

  it.live("frames already framed after the reply are refused (they were not compressed)", () =>
    Effect.gen(function*() {
      const { connection } = stub([[encoder.encode(`${REPLY}\r\n`)]])
      // A framer that makes two frames of one line: the second is framed data after the reply.
      const wire = yield* Wire.make(connection, {
        protocol: "LINE",
        host: "stub",
        port: 1,
        timeouts: Limits.timeouts(),
        makeFramer: () => {
          const inner = LineDialect.makeFramer(Limits.defaultLimits)
          return { ...inner, push: (chunk) => Result.map(inner.push(chunk), (lines) => lines.flatMap((l) => [l, l])) }
        }
      })
      const reason = reasonOf(yield* Effect.exit(switchOver(wire)))
      assert.strictEqual(reason._tag, "ProtocolViolation")
      if (reason._tag === "ProtocolViolation") assert.strictEqual(reason.preview, "1 frame(s)")
    }))

  it.live("a stream that ends (final block) is a ProtocolViolation once it is read past", () =>
    Effect.gen(function*() {
      const ended = Zlib.deflateRawSync(encoder.encode("* last\r\n"))
      const { connection } = stub([[encoder.encode(REPLY + "\r\n"), ended], [encoder.encode("* ignored by zlib\r\n")]])
      const wire = yield* wireOver(connection)
      yield* switchOver(wire)
      assert.strictEqual(yield* wire.next("command"), "* last")
      const reason = reasonOf(yield* Effect.exit(wire.next("command")))
      assert.strictEqual(reason._tag, "ProtocolViolation")
      assert.include(reason._tag === "ProtocolViolation" ? reason.detail : "", "ended")
    }))

  it.live("a bomb is read only as far as the limit: a few KiB of 1 MiB of input", () =>
    Effect.gen(function*() {
      const bytes = yield* Effect.promise(() => bomb(1024))
      const { connection, pulled } = stub([
        [encoder.encode(REPLY + "\r\n")],
        ...inPieces(bytes, 1024).map((piece) => [piece])
      ])
      const wire = yield* wireOver(connection, { maxLineLength: 64 * 1024 })
      yield* switchOver(wire)
      const reason = reasonOf(yield* Effect.exit(wire.next("command")))
      assert.strictEqual(reason._tag, "LimitExceeded")
      assert.isBelow(pulled(), 16 * 1024)
      assert.isAbove(bytes.length, 1_000_000)
    }))

  it.live("the inflater hands out bounded pieces and stops inflating while they are not read", () =>
    Effect.gen(function*() {
      const inflater = makeInflater()
      inflater.write(yield* Effect.promise(() => bomb(64)))
      // Unread output stops zlib: after a pause the inflater holds about one piece, not 64 MiB.
      yield* Effect.sleep("50 millis")
      let total = 0
      let largest = 0
      while (total < 4 * 1024 * 1024) {
        const piece = yield* inflater.read
        assert.isDefined(piece)
        total += piece!.length
        largest = Math.max(largest, piece!.length)
      }
      assert.isAtMost(largest, 2 * PIECE)
      inflater.close()
      const closed = yield* Effect.exit(inflater.read)
      assert.isTrue(closed._tag === "Failure")
    }))
})

describe("throughput", () => {
  const MB = 10 * 1024 * 1024
  const text = encoder.encode(LineServer.bulkText(MB) + "+OK done\r\n")

  const drain = (wire: Wire.Wire<string>) =>
    Effect.gen(function*() {
      let frames = 0
      while (true) {
        const batch = yield* wire.nextBatch("data")
        frames += batch.length
        if (batch[batch.length - 1] === "+OK done") return frames
      }
    })

  const timed = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeNanos
      const value = yield* effect
      return { value, seconds: Number((yield* Clock.currentTimeNanos) - start) / 1e9 }
    })

  it.live("a 10 MB reply stream through the wire: compressed vs uncompressed (16 KiB reads)", () =>
    Effect.gen(function*() {
      const compressed = yield* Effect.promise(() => deflateGroups([text]))
      const plainRun = stub(inPieces(text, 16 * 1024).map((c) => [c]))
      const plain = yield* timed(Effect.flatMap(wireOver(plainRun.connection), drain))
      const deflatedRun = stub([[encoder.encode(REPLY + "\r\n")], ...inPieces(compressed, 16 * 1024).map((c) => [c])])
      const deflated = yield* timed(Effect.gen(function*() {
        const wire = yield* wireOver(deflatedRun.connection)
        yield* switchOver(wire)
        return yield* drain(wire)
      }))
      assert.strictEqual(deflated.value, plain.value)
      const mbps = (seconds: number) => (text.length / 1e6 / seconds).toFixed(0)
      yield* Effect.log(
        `wire, 10 MB reply: uncompressed ${mbps(plain.seconds)} MB/s, compressed ${mbps(deflated.seconds)} MB/s ` +
          `(${(compressed.length / 1e6).toFixed(2)} MB on the wire, ratio ${(text.length / compressed.length).toFixed(1)})`
      )
    }))

  it.live("a 10 MB reply over in-memory TLS, end to end (server deflate included)", () =>
    Effect.gen(function*() {
      const run = (compress: boolean) => {
        const { layer } = withServer({})
        return Effect.gen(function*() {
          const authed = yield* authenticated
          if (compress) yield* Compression.compress(authed, LineDialect.compress())
          return yield* timed(Connection.exchange(authed.session, LineDialect.bulk(MB)))
        }).pipe(Effect.scoped, Effect.provide(layer))
      }
      const plain = yield* run(false)
      const deflated = yield* run(true)
      assert.strictEqual(deflated.value, plain.value)
      const mbps = (seconds: number) => (plain.value / 1e6 / seconds).toFixed(0)
      yield* Effect.log(
        `TLS, 10 MB reply: uncompressed ${mbps(plain.seconds)} MB/s, compressed ${mbps(deflated.seconds)} MB/s`
      )
    }))
})
