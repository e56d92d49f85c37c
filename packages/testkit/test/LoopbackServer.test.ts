import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Net from "node:net"
import * as Certificates from "../src/Certificates.ts"
import * as LoopbackServer from "../src/LoopbackServer.ts"
import * as Recording from "../src/Recording.ts"
import * as Transcript from "../src/Transcript.ts"
import * as TestClient from "./helpers/TestClient.ts"

const connect = (port: number, host = "127.0.0.1") =>
  Effect.callback<Net.Socket, string>((resume) => {
    const socket = Net.connect({ host, port })
    socket.once("connect", () => resume(Effect.succeed(socket)))
    socket.once("error", (error) => resume(Effect.fail("code" in error ? String(error.code) : error.message)))
  })

const SMTP = Result.getOrThrow(Transcript.parse(`
  S: 220 mail.example.net ESMTP
  C: EHLO client.example
  S: 250-mail.example.net
  S+ 250 STARTTLS
  C: STARTTLS
  S: 220 Ready to start TLS
  -- starttls
  C: EHLO client.example
  S: 250-mail.example.net
  S+ 250 AUTH PLAIN
  C: QUIT
  S: 221 bye
  -- expect-close
`))

const smtpClient = (port: number) =>
  Effect.gen(function*() {
    const client = TestClient.make(yield* connect(port))
    assert.strictEqual(yield* client.readLine, "220 mail.example.net ESMTP\r\n")
    yield* client.write("EHLO client.example\r\n")
    yield* client.readLine
    yield* client.readLine
    yield* client.write("STARTTLS\r\n")
    assert.strictEqual(yield* client.readLine, "220 Ready to start TLS\r\n")
    const tls = yield* client.startTls({ ca: Certificates.ca.cert, servername: "localhost" })
    assert.isTrue(tls.authorized)
    yield* client.write("EHLO client.example\r\n")
    yield* client.readLine
    assert.strictEqual(yield* client.readLine, "250 AUTH PLAIN\r\n")
    yield* client.write("QUIT\r\n")
    assert.strictEqual(yield* client.readLine, "221 bye\r\n")
    yield* client.end
    yield* client.awaitClosed
  })

describe("LoopbackServer", () => {
  it.live("runs a scripted STARTTLS conversation over loopback TCP", () =>
    Effect.gen(function*() {
      const server = yield* LoopbackServer.scripted(SMTP)
      assert.strictEqual(server.host, "127.0.0.1")
      assert.isAbove(server.port, 0)
      yield* smtpClient(server.port)
      const exit = yield* server.next
      assert.isTrue(Exit.isSuccess(exit))
      const rec = Exit.isSuccess(exit) ? exit.value : assert.fail("handler failed")
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(rec.handshake?.protocol, "TLSv1.3")
      assert.strictEqual(Recording.plaintextClientBytes(rec), "EHLO client.example\r\nSTARTTLS\r\n")
      assert.strictEqual(Recording.tlsClientBytes(rec), "EHLO client.example\r\nQUIT\r\n")
      assert.strictEqual(rec.sentBeforeHandshake.length, 0)
      assert.strictEqual(rec.sentAfterExpectClose.length, 0)
    }))

  it.live("hands every connection to its own handler and reports failures as exits", () =>
    Effect.gen(function*() {
      const server = yield* LoopbackServer.scripted(SMTP)
      yield* Effect.all([smtpClient(server.port), smtpClient(server.port)], { concurrency: 2 })
      const first = yield* server.next
      const second = yield* server.next
      assert.isTrue(Exit.isSuccess(first) && Exit.isSuccess(second))

      const client = TestClient.make(yield* connect(server.port))
      yield* client.readLine
      yield* client.write("HELO nope\r\n")
      const failed = yield* server.next
      assert.isTrue(Exit.isFailure(failed))
      yield* client.awaitClosed
    }))

  it.live("listens on 127.0.0.1 only and stops listening when the scope closes", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* LoopbackServer.make((socket) => Effect.sync(() => socket.remoteAddress))
        const socket = yield* connect(server.port)
        const exit = yield* server.next
        assert.deepStrictEqual(exit, Exit.succeed("127.0.0.1"))
        socket.destroy()
        // Bound to 127.0.0.1 itself, not to every address: another loopback address is refused.
        assert.strictEqual(yield* Effect.flip(connect(server.port, "127.0.0.2")), "ECONNREFUSED")
        return server.port
      }))
      const refused = yield* Effect.flip(connect(port))
      assert.strictEqual(refused, "ECONNREFUSED")
    }))

  it.live("closing the scope ends connections whose handlers still run", () =>
    Effect.gen(function*() {
      const client = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* LoopbackServer.make(() => Effect.never)
        const client = TestClient.make(yield* connect(server.port))
        yield* client.write("hello\r\n")
        return client
      }))
      yield* client.awaitClosed
    }))
})
