/**
 * COMPRESS=DEFLATE (RFC 4978) in the IMAP client: the exact bytes up to the switch and the first
 * compressed ones (transcripts), refusals, the capability and TLS rules, end to end against the
 * testkit's ImapServer over real in-memory TLS, a chunking property over the whole compressed
 * reply stream (the IMAP framer across the boundary, literals included), a corrupt stream and a
 * decompression bomb.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import type * as Tls from "@starttls/core/Tls"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import { IoError, Transport, type TransportConnection } from "@starttls/core/Transport"
import * as Chunking from "@starttls/testkit/Chunking"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Zlib from "node:zlib"
import * as ImapClient from "../src/ImapClient.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as H from "./ImapHarness.ts"
import { perFlush } from "@starttls/testkit/Deflate"

const CRLF = "\r\n"
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const login = ImapClient.session({ ...H.options, credentials: H.credentials })
const all = SequenceSet.range(1, "*")

const deflateEach = (pieces: ReadonlyArray<string | Uint8Array>) =>
  Effect.promise(() =>
    perFlush(Zlib.createDeflateRaw(), pieces.map((p) => (typeof p === "string" ? encoder.encode(p) : p)))
  )

/** Inflates consecutive pieces of one client stream; each must inflate on its own (it was flushed). */
const inflateEach = (pieces: ReadonlyArray<Uint8Array>) =>
  Effect.promise(() => perFlush(Zlib.createInflateRaw(), pieces)).pipe(
    Effect.map((outputs) => outputs.map((bytes) => decoder.decode(bytes)))
  )

/** Bytes as transcript escapes (`-- inject`): every byte `\xNN`, so no `<t>` can appear by chance. */
const escaped = (bytes: Uint8Array) => Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")

/** H.LOGGED_IN with COMPRESS=DEFLATE in the capabilities of the authentication's OK. */
const LOGGED_IN = H.LOGGED_IN.replace("LIST-EXTENDED]", "LIST-EXTENDED COMPRESS=DEFLATE]")

describe("transcripts", () => {
  it.live("COMPRESS DEFLATE: exact bytes up to the tagged OK, compressed from the next byte both ways", () =>
    Effect.gen(function*() {
      // The server's first compressed bytes share the write of its OK (RFC 4978 §3 allows it).
      const [early] = yield* deflateEach([`* OK [ALERT] squeezed${CRLF}A5 OK NOOP completed.${CRLF}`])
      const alerts: Array<string> = []
      const { exit, rec } = yield* H.play(
        `${LOGGED_IN}
          C: A4 COMPRESS DEFLATE
          S: A4 OK DEFLATE active
          -- inject ${escaped(early!)}
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const events = yield* ImapClient.events(imap)
          assert.isFalse(ImapClient.isCompressed(imap))
          yield* ImapClient.compress(imap)
          assert.isTrue(ImapClient.isCompressed(imap))
          // Answered by the compressed bytes that came with the OK.
          yield* ImapClient.noop(imap)
          yield* Stream.runForEach(Stream.take(events, 1), (e) => Effect.sync(() => e._tag === "Alert" && alerts.push(e.text)))
        }),
        { lingerMs: 300 }
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(alerts, ["squeezed"])
      // Over TLS: the commands in clear up to COMPRESS, then (after the script's last line) raw
      // DEFLATE, flushed, inflating to exactly the NOOP.
      const tls = Buffer.concat(rec.chunks.filter((c) => c.phase === "tls").map((c) => c.bytes))
      const upToSwitch = encoder.encode(`A2 CAPABILITY${CRLF}A3 AUTHENTICATE PLAIN ${H.plain}${CRLF}A4 COMPRESS DEFLATE${CRLF}`)
      assert.deepStrictEqual(new Uint8Array(tls), new Uint8Array(Buffer.concat([upToSwitch, rec.extraAfterScript])))
      assert.notInclude(decoder.decode(rec.extraAfterScript), "NOOP")
      assert.deepStrictEqual(yield* inflateEach([rec.extraAfterScript]), [`A5 NOOP${CRLF}`])
    }))

  for (
    const [reply, code] of [
      ["A4 NO [COMPRESSIONACTIVE] DEFLATE active via TLS", "NO COMPRESSIONACTIVE"],
      ["A4 NO not now", "NO"],
      ["A4 BAD unknown command", "BAD"]
    ] as const
  ) {
    it.live(`a refusal (${code}) is CompressionRejected and the connection carries on uncompressed`, () =>
      Effect.gen(function*() {
        const { exit, rec } = yield* H.play(
          `${LOGGED_IN}
            C: A4 COMPRESS DEFLATE
            S: ${reply}
            C: A5 NOOP
            S: A5 OK NOOP completed.
          `,
          Effect.gen(function*() {
            const imap = yield* login
            const refused = H.reason(yield* Effect.exit(ImapClient.compress(imap)))
            assert.strictEqual(refused._tag, "CompressionRejected")
            if (refused._tag === "CompressionRejected") {
              assert.strictEqual(refused.code, code)
              assert.strictEqual(refused.untrustedReply, reply.slice(reply.indexOf(" ", 3) + 1).replace(/^\[[A-Z]+\] /, ""))
            }
            assert.isFalse(ImapClient.isCompressed(imap))
            yield* ImapClient.noop(imap)
          })
        )
        H.assertSuccess(exit)
        assert.strictEqual(rec.extraAfterScript.length, 0)
      }))
  }

  it.live("without COMPRESS=DEFLATE advertised: MissingCapability and nothing written", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        `${H.LOGGED_IN}
          C: A4 NOOP
          S: A4 OK NOOP completed.
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const missing = H.reason(yield* Effect.exit(ImapClient.compress(imap)))
          assert.strictEqual(missing._tag, "MissingCapability")
          if (missing._tag === "MissingCapability") assert.strictEqual(missing.capability, "COMPRESS=DEFLATE")
          // The tag was not used: the next command is A4.
          yield* ImapClient.noop(imap)
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(rec.outcome._tag, "Completed")
    }))

  it.live("capabilities unknown after authentication are asked for first (RFC 9051 §6.2.2)", () =>
    Effect.gen(function*() {
      const [early] = yield* deflateEach([`A6 OK NOOP completed.${CRLF}`])
      const { exit } = yield* H.play(
        `${H.UPGRADED}
          ${H.TLS_CAPS}
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: A3 OK Logged in
          C: A4 CAPABILITY
          S: * CAPABILITY IMAP4rev1 COMPRESS=DEFLATE
          S+ A4 OK done
          C: A5 COMPRESS DEFLATE
          S: A5 OK go
          -- inject ${escaped(early!)}
        `,
        Effect.gen(function*() {
          const imap = yield* login
          yield* ImapClient.compress(imap)
          yield* ImapClient.noop(imap)
        }),
        { lingerMs: 300 }
      )
      H.assertSuccess(exit)
    }))

  const outOfStep: ReadonlyArray<{
    readonly title: string
    readonly reply: string
    readonly run: (imap: ImapClient.ImapConnection<"Authenticated">) => Effect.Effect<unknown, unknown>
    readonly detail: string
  }> = [
    {
      title: "a tagged reply for another tag while COMPRESS waits",
      reply: "S: A9 OK what",
      run: (imap) => ImapClient.compress(imap),
      detail: "not in flight"
    },
    {
      title: "plaintext after the OK is read as compressed data (on the next read)",
      reply: "S: A4 OK DEFLATE active\n S+ * OK not compressed",
      run: (imap) => Effect.andThen(ImapClient.compress(imap), ImapClient.noop(imap)),
      detail: "deflate"
    }
  ]
  for (const { detail, reply, run, title } of outOfStep) {
    it.live(`${title}: ProtocolViolation, the connection is closed`, () =>
      Effect.gen(function*() {
        const { exit } = yield* H.play(
          `${LOGGED_IN}
            C: A4 COMPRESS DEFLATE
            ${reply}
            -- expect-close
          `,
          Effect.gen(function*() {
            const imap = yield* login
            const violation = H.reason(yield* Effect.exit(run(imap)))
            assert.strictEqual(violation._tag, "ProtocolViolation")
            if (violation._tag === "ProtocolViolation") assert.include(violation.detail, detail)
            assert.strictEqual(Connection.runtimeState(imap), "Closed")
          })
        )
        H.assertSuccess(exit)
      }))
  }
})

/** A ~`size`-byte message whose text varies with `n` (compressible, like real mail). */
const message = (n: number, size: number) => {
  const head = `From: a@example.com${CRLF}To: b@example.com${CRLF}Subject: message ${n}${CRLF}${CRLF}`
  const line = `line of message ${n}: ${"the quick brown fox jumps over the lazy dog ".repeat(2)}${CRLF}`
  return head + line.repeat(Math.ceil((size - head.length) / line.length)).slice(0, size - head.length - 2) + CRLF
}

describe("against the in-memory ImapServer (real TLS)", () => {
  it.live("COMPRESS, then SELECT, FETCH of 200 × 10 KB byte-exact and APPEND, all through DEFLATE", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ compress: true })
      const sources = Array.from({ length: 200 }, (_, i) => message(i + 1, 10_240))
      for (const source of sources) server.append("alice", "INBOX", source)
      const appended = message(999, 50_000)
      yield* Effect.gen(function*() {
        const imap = yield* login
        yield* ImapClient.compress(imap)
        const inbox = yield* ImapClient.select(imap, "INBOX")
        assert.strictEqual(inbox.status.exists, 200)
        const fetched = yield* Stream.runCollect(ImapClient.fetch(inbox, all, { uid: true, source: true }))
        assert.strictEqual(fetched.length, 200)
        fetched.forEach((m, i) => assert.strictEqual(decoder.decode(m.source), sources[i]))
        const result = yield* ImapClient.append(imap, "INBOX", encoder.encode(appended), { flags: ["\\Seen"] })
        assert.strictEqual(result.uid, 201)
        yield* ImapClient.logout(imap)
      }).pipe(Effect.scoped, Effect.provide(layer))
      const stored = server.messages("alice", "INBOX")
      assert.strictEqual(decoder.decode(stored[200]!.bytes), appended)
      const connection = server.connections()[0]!
      assert.deepStrictEqual(connection.commands.map((c) => c.name), [
        "STARTTLS",
        "CAPABILITY",
        "AUTHENTICATE",
        "COMPRESS",
        "SELECT",
        "FETCH",
        "APPEND",
        "LOGOUT"
      ])
      const stats = connection.compression()!
      // Everything after the switch went through the inflater: the APPEND's 50 KB literal included.
      assert.include(decoder.decode(stats.textIn), appended)
      assert.isAbove(stats.textOut, 200 * 10_240)
      assert.isBelow(stats.bytesOut, stats.textOut / 5)
      assert.isBelow(stats.bytesIn, stats.textIn.length / 5)
    }))

  it.live("session({ compress: true }) compresses when offered and carries on uncompressed when not", () =>
    Effect.gen(function*() {
      const offered = yield* H.memoryServer({ compress: true })
      offered.server.append("alice", "INBOX", message(1, 2000))
      const compressed = yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, compress: true })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        const [m] = yield* Stream.runCollect(ImapClient.fetch(inbox, all, { source: true }))
        assert.strictEqual(decoder.decode(m!.source), message(1, 2000))
        return ImapClient.isCompressed(imap)
      }).pipe(Effect.scoped, Effect.provide(offered.layer))
      assert.isTrue(compressed)
      assert.isDefined(offered.server.connections()[0]!.compression())

      const plain = yield* H.memoryServer()
      const uncompressed = yield* ImapClient.session({ ...H.options, credentials: H.credentials, compress: true }).pipe(
        Effect.tap((imap) => ImapClient.noop(imap)),
        Effect.map(ImapClient.isCompressed),
        Effect.scoped,
        Effect.provide(plain.layer)
      )
      assert.isFalse(uncompressed)
      assert.deepStrictEqual(plain.server.connections()[0]!.commands.map((c) => c.name), [
        "STARTTLS",
        "CAPABILITY",
        "AUTHENTICATE",
        "NOOP"
      ])
    }))

  /** Runs `operations` concurrently on one session, `delayed` answered 40 ms late; the server's connection. */
  const concurrently = (
    delayed: string,
    operations: (imap: ImapClient.ImapConnection<"Authenticated">) => ReadonlyArray<Effect.Effect<unknown, unknown>>
  ) =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({
        compress: true,
        faults: [{ _tag: "Delay", command: delayed, millis: 40 }]
      })
      yield* Effect.gen(function*() {
        const imap = yield* login
        yield* Effect.all(operations(imap), { concurrency: "unbounded" })
        assert.isTrue(ImapClient.isCompressed(imap))
      }).pipe(Effect.scoped, Effect.provide(layer))
      const connection = server.connections()[0]!
      return { names: connection.commands.map((c) => `${c.tag} ${c.name}`), textIn: decoder.decode(connection.compression()!.textIn) }
    })

  const after = (millis: number, effect: Effect.Effect<unknown, unknown>) => Effect.andThen(Effect.sleep(millis), effect)

  it.live("concurrent operations wait for COMPRESS: nothing else is in flight while it runs", () =>
    Effect.gen(function*() {
      // A slow COMPRESS: the other operations queue behind it.
      const { names, textIn } = yield* concurrently("COMPRESS", (imap) => [
        ImapClient.compress(imap),
        ImapClient.noop(imap),
        ImapClient.status(imap, "INBOX"),
        ImapClient.noop(imap)
      ])
      assert.deepStrictEqual(names.slice(3), ["A4 COMPRESS", "A5 NOOP", "A6 STATUS", "A7 NOOP"])
      // The three others reached the server only through the inflater.
      assert.match(textIn, /^A5 NOOP\r\nA6 STATUS INBOX .*\r\nA7 NOOP\r\n$/)
    }))

  it.live("COMPRESS issued while pipelined commands are in flight: it waits for them; later ones go compressed", () =>
    Effect.gen(function*() {
      // A slow STATUS: in flight when COMPRESS is issued.
      const { names, textIn } = yield* concurrently("STATUS", (imap) => [
        ImapClient.status(imap, "INBOX"),
        ImapClient.noop(imap),
        after(5, ImapClient.compress(imap)),
        after(10, ImapClient.noop(imap)),
        after(10, ImapClient.status(imap, "INBOX"))
      ])
      const at = names.findIndex((n) => n.endsWith("COMPRESS"))
      assert.deepStrictEqual(names.slice(3, at).map((n) => n.split(" ")[1]).sort(), ["NOOP", "STATUS"])
      // Everything after COMPRESS reached the server through its inflater, exactly.
      const lines = textIn.split(CRLF).filter((l) => l.length > 0)
      assert.deepStrictEqual(lines.map((l) => l.split(" ").slice(0, 2).join(" ")), names.slice(at + 1))
      assert.strictEqual(lines.length, 2)
    }))

  it.live("without TLS: refused (nothing written) unless allowWithoutTls, which warns with a Downgrade event", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ security: "plaintext", compress: true })
      const { events, program } = H.withEvents(Effect.gen(function*() {
        const plain = yield* ImapClient.opportunistic(H.options)
        const imap = yield* ImapClient.login(
          plain as ImapClient.ImapConnection<"Plain">,
          "alice",
          Redacted.make(H.password)
        )
        const refused = H.reason(yield* Effect.exit(ImapClient.compress(imap)))
        assert.strictEqual(refused._tag, "PolicyViolation")
        assert.include(refused.message, "allowWithoutTls")
        assert.isFalse(ImapClient.isCompressed(imap))
        yield* ImapClient.compress(imap, { allowWithoutTls: true })
        yield* ImapClient.noop(imap)
        assert.isTrue(ImapClient.isCompressed(imap))
      }))
      yield* program.pipe(
        Effect.scoped,
        Effect.provide(layer),
        Effect.provide(TlsPolicy.opportunisticStartTlsDangerously),
        Effect.provide(TlsPolicy.allowPlaintextAuthDangerously)
      )
      const connection = server.connections()[0]!
      // One COMPRESS only: the refused call wrote nothing (its tag, A3, was used up).
      assert.deepStrictEqual(connection.commands.map((c) => [c.tag, c.name]).slice(-3), [
        ["A2", "LOGIN"],
        ["A4", "COMPRESS"],
        ["A5", "NOOP"]
      ])
      assert.strictEqual(decoder.decode(connection.compression()!.textIn), "A5 NOOP\r\n")
      const downgrades = events.filter((e) => e._tag === "Downgrade")
      assert.strictEqual(downgrades.length, 2)
      assert.include(downgrades[1]!._tag === "Downgrade" ? downgrades[1]!.reason : "", "COMPRESS=DEFLATE")
    }))

  it.live("a second compress is refused before anything is written; the connection goes on", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ compress: true })
      yield* Effect.gen(function*() {
        const imap = yield* login
        yield* ImapClient.compress(imap)
        const again = H.reason(yield* Effect.exit(ImapClient.compress(imap)))
        assert.strictEqual(again._tag, "PolicyViolation")
        assert.include(again.message, "already active")
        yield* ImapClient.noop(imap)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.strictEqual(server.connections()[0]!.commands.filter((c) => c.name === "COMPRESS").length, 1)
    }))

  it.live("a corrupt compressed stream from the server: ProtocolViolation, the connection is closed", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({
        compress: true,
        faults: [{
          _tag: "Override",
          command: "COMPRESS",
          reply: [`<t> OK Begin compression.${CRLF}`, new Uint8Array([0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x13])]
        }]
      })
      yield* Effect.gen(function*() {
        const imap = yield* login
        yield* ImapClient.compress(imap)
        const corrupt = H.reason(yield* Effect.exit(ImapClient.noop(imap)))
        assert.strictEqual(corrupt._tag, "ProtocolViolation")
        if (corrupt._tag === "ProtocolViolation") assert.include(corrupt.detail, "deflate")
        assert.strictEqual(Connection.runtimeState(imap), "Closed")
        // Every later operation fails at once with the same reason, nothing is written.
        assert.strictEqual(H.reason(yield* Effect.exit(ImapClient.noop(imap)))._tag, "ProtocolViolation")
        // The server sees the client hang up (the connection was destroyed, not left open).
        const connection = server.connections()[0]!
        yield* Effect.sleep("30 millis")
        assert.isTrue(connection.closed())
        assert.strictEqual(connection.recording().outcome._tag, "ClientClosed")
      }).pipe(Effect.scoped, Effect.provide(layer))
      // (The overridden COMPRESS left the server uncompressed: the deflated NOOP was never a command to it.)
      assert.deepStrictEqual(server.connections()[0]!.commands.map((c) => c.name).slice(3), ["COMPRESS"])
    }))

  it.live("a decompression bomb (≈1 MiB → 1 GiB line): LimitExceeded quickly, memory bounded", () =>
    Effect.gen(function*() {
      // "* OK " then 1 GiB of "x" without a line end: once the window holds only "x", one block
      // encoding 1 MiB of "x" can be repeated.
      const x = new Uint8Array(1 << 20).fill(0x78)
      const [head, first, block] = yield* Effect.promise(() =>
        perFlush(Zlib.createDeflateRaw({ level: 9 }), [encoder.encode("* OK "), x, x])
      )
      const bomb = Buffer.concat([head!, first!, ...Array.from({ length: 1023 }, () => block!)])
      assert.isBelow(bomb.length, 2_000_000)
      const { layer } = yield* H.memoryServer({
        compress: true,
        faults: [{ _tag: "Override", command: "COMPRESS", reply: [`<t> OK Begin compression.${CRLF}`, bomb] }]
      })
      const before = process.memoryUsage().rss
      const started = yield* Clock.currentTimeMillis
      const reason = yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({
          ...H.options,
          credentials: H.credentials,
          limits: { maxLineLength: 64 * 1024 }
        })
        yield* ImapClient.compress(imap)
        const exit = yield* Effect.exit(ImapClient.noop(imap))
        assert.strictEqual(Connection.runtimeState(imap), "Closed")
        return H.reason(exit)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.strictEqual(reason._tag, "LimitExceeded")
      if (reason._tag === "LimitExceeded") assert.strictEqual(reason.limit, "maxLineLength")
      // Inflating the whole GiB would take seconds and a GiB; stopping at the limit takes neither.
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 2_000)
      assert.isBelow(process.memoryUsage().rss - before, 200 * 1024 * 1024)
    }))
})

const fakeTls: Tls.TlsSession = {
  protocol: "TLSv1.3",
  cipher: "TEST",
  verified: true,
  peerSpkiSha256: undefined,
  channelBinding: undefined
}

/**
 * A transport that plays `batches` (one per pull: the network's chunking and the reader's batching)
 * over a pretend implicit-TLS connection, whatever the client writes, and records the writes.
 */
const replaying = (batches: ReadonlyArray<ReadonlyArray<Uint8Array>>) => {
  const written: Array<Uint8Array> = []
  let index = 0
  let secure = false
  const connection: TransportConnection = {
    pull: Effect.suspend(() => {
      const batch = batches[index++]
      return batch === undefined ? Effect.fail(new IoError({ operation: "closed" })) : Effect.succeed(batch)
    }),
    write: (chunks) => Effect.sync(() => void written.push(Buffer.concat(chunks))),
    upgrade: () =>
      Effect.sync(() => {
        secure = true
        return fakeTls
      }),
    tls: () => (secure ? fakeTls : undefined),
    destroy: Effect.void
  }
  return { written, layer: Layer.succeed(Transport, Transport.of({ connect: () => Effect.succeed(connection) })) }
}

describe("property: the compression boundary under any chunking", () => {
  const body = fc.uint8Array({ minLength: 0, maxLength: 3000 })
  // Server writes after the switch, each flushed on its own; where they split is the server's choice.
  const scenario = fc.record({
    bodies: fc.array(body, { minLength: 1, maxLength: 4 }),
    flushes: fc.array(fc.nat(), { maxLength: 6 }),
    seed: fc.nat()
  })

  it.live("greeting, OK and compressed SELECT / FETCH replies (literals) in any chunks → the same messages, byte-exact", () => {
    // Runs where the read that completes the OK also holds compressed bytes (the hard case).
    let shared = 0
    return Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(scenario, fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 40 }), async (s, batching) => {
          const greeting = encoder.encode(`* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ COMPRESS=DEFLATE] ready${CRLF}`)
          const replies = Buffer.concat([
            encoder.encode(`* ${s.bodies.length} EXISTS${CRLF}* OK [UIDVALIDITY 7] ok${CRLF}A2 OK [READ-WRITE] done${CRLF}`),
            ...s.bodies.flatMap((b, i) => [encoder.encode(`* ${i + 1} FETCH (BODY[] {${b.length}}${CRLF}`), b, encoder.encode(`)${CRLF}`)]),
            encoder.encode(`A3 OK Fetch completed.${CRLF}`)
          ])
          const cuts = [...new Set(s.flushes.map((f) => f % (replies.length + 1)))].sort((a, b) => a - b)
          const groups = Chunking.splitAt(replies, cuts.filter((c) => c > 0 && c < replies.length))
          const compressed = Buffer.concat(await perFlush(Zlib.createDeflateRaw(), groups))
          // The greeting was sent before the client wrote COMPRESS, so no read holds it and the OK
          // together; the OK and the compressed bytes after it may come in any chunks, shared or not.
          const switched = Buffer.concat([encoder.encode(`A1 OK Begin compression.${CRLF}`), compressed])
          const batches: Array<ReadonlyArray<Uint8Array>> = []
          const okLength = `A1 OK Begin compression.${CRLF}`.length
          let b = 0
          for (const [part, seed] of [[greeting, s.seed], [switched, s.seed + 1]] as const) {
            const chunks = fc.sample(Chunking.splits(part), { seed, numRuns: 1 })[0]!
            let seen = 0
            for (let i = 0; i < chunks.length; b++) {
              const size = batching[b] ?? 1
              const batch = chunks.slice(i, i + size)
              const length = batch.reduce((n, c) => n + c.length, 0)
              if (part === switched && seen < okLength && seen + length > okLength) shared++
              seen += length
              batches.push(batch)
              i += size
            }
          }
          const { layer, written } = replaying(batches)
          const sources = await Effect.runPromise(Effect.gen(function*() {
            const imap = yield* ImapClient.connectTls({ host: "localhost", port: 993 })
            if (imap.state !== "Authenticated") return yield* Effect.die("expected PREAUTH")
            const authed = imap as ImapClient.ImapConnection<"Authenticated">
            yield* ImapClient.compress(authed)
            const inbox = yield* ImapClient.select(authed, "INBOX")
            const fetched = yield* Stream.runCollect(ImapClient.fetch(inbox, all, { source: true }))
            return fetched.map((m) => m.source)
          }).pipe(Effect.scoped, Effect.provide(layer)))
          assert.deepStrictEqual(sources.map((b) => Buffer.from(b ?? []).toString("hex")), s.bodies.map((b) => Buffer.from(b).toString("hex")))
          // Client side of the boundary: COMPRESS in clear, then each command deflated and flushed on its own.
          assert.strictEqual(decoder.decode(written[0]), `A1 COMPRESS DEFLATE${CRLF}`)
          const after = await Effect.runPromise(inflateEach(written.slice(1)))
          assert.deepStrictEqual(after.map((t) => t.slice(0, 9)), ["A2 SELECT", "A3 FETCH "])
        }),
        { numRuns: 60 }
      )
    ).pipe(Effect.andThen(Effect.sync(() => assert.isAbove(shared, 5))))
  }, 30_000)
})
