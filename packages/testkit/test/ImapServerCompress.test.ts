/**
 * The in-memory IMAP server's COMPRESS=DEFLATE (RFC 4978), driven by a raw client over real TLS:
 * advertised only after authentication (like Dovecot with imap_zlib), the exact switch after the
 * tagged OK (compressed bytes pipelined in the same write as COMPRESS included), every server write
 * flushed so it inflates on its own, the refusals, and a corrupt client stream.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { duplexPair } from "node:stream"
import * as Certificates from "../src/Certificates.ts"
import * as ImapServer from "../src/ImapServer.ts"
import * as TestClient from "./helpers/TestClient.ts"

const CRLF = "\r\n"

type Client = TestClient.TestClient

/** Lines up to and including the tagged reply of `tag` (literals skipped as lines: tests keep them short). */
const readTagged = (client: Client, tag: string) =>
  Effect.gen(function*() {
    let all = ""
    for (;;) {
      const line = yield* client.readLine
      all += line
      if (line.startsWith(`${tag} `)) return all
    }
  })

const run = (client: Client, tag: string, command: string) =>
  Effect.andThen(client.write(`${tag} ${command}${CRLF}`), readTagged(client, tag))

/** Greeting, STARTTLS, TLS, LOGIN: returns the LOGIN reply. */
const loggedIn = (server: ImapServer.ImapServer) =>
  Effect.gen(function*() {
    const [clientEnd, serverEnd] = duplexPair()
    yield* Effect.forkChild(server.handler(serverEnd))
    const client = TestClient.make(clientEnd)
    yield* Effect.addFinalizer(() => client.destroy)
    const greeting = yield* client.readLine
    assert.notInclude(greeting, "COMPRESS")
    assert.strictEqual(yield* run(client, "a", "STARTTLS"), `a OK Begin TLS negotiation now.${CRLF}`)
    yield* client.startTls({ ca: Certificates.ca.cert, servername: "localhost" })
    const caps = yield* run(client, "b", "CAPABILITY")
    assert.notInclude(caps, "COMPRESS")
    const login = yield* run(client, "c", "LOGIN test secret")
    return { client, login, connection: server.connections()[server.connections().length - 1]! }
  })

const message = (n: number, size: number) => {
  const head = `Subject: message ${n}${CRLF}${CRLF}`
  const line = `line of message ${n} ${"abcdefghij".repeat(6)}${CRLF}`
  return head + line.repeat(Math.ceil((size - head.length) / line.length)).slice(0, size - head.length)
}

describe("ImapServer COMPRESS=DEFLATE", () => {
  it.live("advertised only after authentication, and only when configured", () =>
    Effect.gen(function*() {
      const off = yield* loggedIn(yield* ImapServer.make())
      assert.notInclude(off.login, "COMPRESS")
      assert.strictEqual(
        yield* run(off.client, "d", "COMPRESS DEFLATE"),
        `d BAD Error in IMAP command COMPRESS: Unknown command.${CRLF}`
      )
      const on = yield* loggedIn(yield* ImapServer.make({ compress: true }))
      assert.match(on.login, /^c OK \[CAPABILITY [^\]]* COMPRESS=DEFLATE\] Logged in\r\n$/)
      assert.isUndefined(on.connection.compression())
    }).pipe(Effect.scoped))

  it.live("switches right after the tagged OK: compressed commands pipelined in the same write are read", () =>
    Effect.gen(function*() {
      const server = yield* ImapServer.make({ compress: true })
      server.append("test", "INBOX", message(1, 300))
      const { client, connection } = yield* loggedIn(server)
      server.append("test", "INBOX", message(2, 300))
      assert.match(yield* run(client, "d", "SELECT INBOX"), /\* 2 EXISTS\r\n[\s\S]*d OK \[READ-WRITE\] Select completed/)
      server.append("test", "INBOX", message(3, 300))
      const pipelined = yield* client.deflate(`f NOOP${CRLF}g UID FETCH 3 (UID RFC822.SIZE)${CRLF}`)
      yield* client.writeRaw(Buffer.concat([Buffer.from(`e COMPRESS DEFLATE${CRLF}`), pipelined]))
      client.compressSending()
      // The EXISTS of message 3 was pending: it goes out before the OK, uncompressed.
      assert.strictEqual(yield* readTagged(client, "e"), `* 3 EXISTS${CRLF}* 3 RECENT${CRLF}e OK Begin compression.${CRLF}`)
      client.compressReceiving()
      assert.strictEqual(yield* readTagged(client, "f"), `f OK NOOP completed.${CRLF}`)
      assert.strictEqual(
        yield* readTagged(client, "g"),
        `* 3 FETCH (UID 3 RFC822.SIZE 300)${CRLF}g OK Fetch completed.${CRLF}`
      )
      assert.strictEqual(yield* run(client, "h", "NOOP"), `h OK NOOP completed.${CRLF}`)
      assert.deepStrictEqual(connection.commands.map((c) => c.name).slice(-5), ["SELECT", "COMPRESS", "NOOP", "UID FETCH", "NOOP"])
      const stats = connection.compression()!
      assert.strictEqual(
        Buffer.from(stats.textIn).toString("latin1"),
        `f NOOP${CRLF}g UID FETCH 3 (UID RFC822.SIZE)${CRLF}h NOOP${CRLF}`
      )
      assert.isAbove(stats.bytesIn, 0)
      assert.isAbove(stats.bytesOut, 0)
      assert.isUndefined(stats.failure)
    }).pipe(Effect.scoped))

  it.live("every write is flushed on its own: a 1 MB literal and later replies inflate as they come", () =>
    Effect.gen(function*() {
      const server = yield* ImapServer.make({ compress: true, writeChunkSize: 64 * 1024 })
      const big = message(1, 1_000_000)
      server.append("test", "INBOX", big)
      const { client, connection } = yield* loggedIn(server)
      yield* run(client, "d", "SELECT INBOX")
      assert.strictEqual(yield* run(client, "e", "COMPRESS DEFLATE"), `e OK Begin compression.${CRLF}`)
      client.compressSending()
      client.compressReceiving()
      yield* client.write(`f FETCH 1 BODY.PEEK[]${CRLF}`)
      assert.strictEqual(yield* client.readLine, `* 1 FETCH (BODY[] {1000000}${CRLF}`)
      let text = ""
      while (text.length < 1_000_000) text += yield* client.readLine
      assert.strictEqual(text.slice(0, 1_000_000), big)
      assert.strictEqual(text.slice(1_000_000) + (yield* readTagged(client, "f")), `)${CRLF}f OK Fetch completed.${CRLF}`)
      // The reply to a command written after the big one is readable at once (it was flushed).
      assert.strictEqual(yield* run(client, "g", "NOOP"), `g OK NOOP completed.${CRLF}`)
      const stats = connection.compression()!
      assert.isAbove(stats.textOut, 1_000_000)
      assert.isBelow(stats.bytesOut, stats.textOut / 10)
    }).pipe(Effect.scoped))

  it.live("refusals: a second COMPRESS is NO [COMPRESSIONACTIVE], unknown mechanisms NO, bad arguments BAD", () =>
    Effect.gen(function*() {
      const server = yield* ImapServer.make({ compress: true })
      const { client } = yield* loggedIn(server)
      assert.strictEqual(yield* run(client, "d", "COMPRESS LZ77"), `d NO Unknown compression mechanism.${CRLF}`)
      assert.strictEqual(
        yield* run(client, "e", "COMPRESS"),
        `e BAD Error in IMAP command COMPRESS: Invalid arguments.${CRLF}`
      )
      // Still uncompressed after the refusals.
      assert.strictEqual(yield* run(client, "f", "COMPRESS DEFLATE"), `f OK Begin compression.${CRLF}`)
      client.compressSending()
      client.compressReceiving()
      assert.strictEqual(
        yield* run(client, "g", "COMPRESS DEFLATE"),
        `g NO [COMPRESSIONACTIVE] COMPRESSION=DEFLATE already enabled.${CRLF}`
      )
      assert.strictEqual(yield* run(client, "h", "NOOP"), `h OK NOOP completed.${CRLF}`)
    }).pipe(Effect.scoped))

  it.live("a corrupt compressed client stream: the server hangs up", () =>
    Effect.gen(function*() {
      const server = yield* ImapServer.make({ compress: true })
      const { client, connection } = yield* loggedIn(server)
      assert.strictEqual(yield* run(client, "d", "COMPRESS DEFLATE"), `d OK Begin compression.${CRLF}`)
      yield* client.writeRaw(new Uint8Array([0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x13]))
      yield* client.awaitClosed
      assert.isTrue(connection.closed())
      assert.isDefined(connection.compression()!.failure)
    }).pipe(Effect.scoped))
})
