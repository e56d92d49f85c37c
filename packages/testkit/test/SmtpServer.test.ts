import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Sasl from "@starttls/core/Sasl"
import { Transport, type TransportConnection } from "@starttls/core/Transport"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Net from "node:net"
import { duplexPair } from "node:stream"
import * as Certificates from "../src/Certificates.ts"
import * as Chunking from "../src/Chunking.ts"
import * as DotDecoder from "../src/internal/smtp/dotDecoder.ts"
import * as LoopbackServer from "../src/LoopbackServer.ts"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import * as Recording from "../src/Recording.ts"
import * as SmtpServer from "../src/SmtpServer.ts"
import * as TestClient from "./helpers/TestClient.ts"

const trusted = { ca: Certificates.ca.cert, servername: "localhost" } as const
const b64 = (text: string | Uint8Array) => Buffer.from(text).toString("base64")
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"))

/** Connects a raw test client to `server` over an in-memory pair. */
const open = (server: SmtpServer.SmtpServer) =>
  Effect.gen(function*() {
    const [clientEnd, serverEnd] = duplexPair()
    clientEnd.on("error", () => undefined)
    serverEnd.on("error", () => undefined)
    yield* Effect.forkScoped(server.handler(serverEnd))
    yield* Effect.addFinalizer(() => Effect.sync(() => clientEnd.destroy()))
    return TestClient.make(clientEnd)
  })

/** One complete reply, all its lines. */
const reply = (client: TestClient.TestClient) =>
  Effect.gen(function*() {
    let text = ""
    while (true) {
      const line = yield* client.readLine
      text += line
      if (/^\d{3}(?: |\r\n)/.test(line)) return text
    }
  })

/** Writes a line (latin1: one byte per character) and reads the reply. */
const send = (client: TestClient.TestClient, line: string) =>
  Effect.andThen(client.write(bytes(`${line}\r\n`)), reply(client))

/** Greeting, EHLO, STARTTLS with a verified certificate, EHLO again; returns the TLS socket. */
const secure = (client: TestClient.TestClient) =>
  Effect.gen(function*() {
    yield* reply(client)
    yield* send(client, "EHLO client.example")
    assert.strictEqual(yield* send(client, "STARTTLS"), "220 2.0.0 Ready to start TLS\r\n")
    const socket = yield* client.startTls(trusted)
    assert.isTrue(socket.authorized)
    yield* send(client, "EHLO client.example")
    return socket
  })

const ehlo = (lines: ReadonlyArray<string>) =>
  lines.map((line, i) => `250${i === lines.length - 1 ? " " : "-"}${line}\r\n`).join("")

const POSTFIX_PLAIN = [
  "localhost",
  "PIPELINING",
  "SIZE 104857600",
  "VRFY",
  "ETRN",
  "STARTTLS",
  "ENHANCEDSTATUSCODES",
  "8BITMIME",
  "DSN",
  "SMTPUTF8",
  "CHUNKING"
]
const POSTFIX_TLS = POSTFIX_PLAIN.map((line) => line === "STARTTLS" ? "AUTH PLAIN LOGIN" : line)

const alice = { users: { alice: "wonderland" } }
const plainAuth = `AUTH PLAIN ${b64("\0alice\0wonderland")}`

/** RFC 5321 §4.5.2 dot-stuffing of a body that ends with CRLF (or is empty), plus the terminator. */
const stuff = (body: string) => body.replace(/(^|\r\n)\./g, "$1..") + ".\r\n"

/** A body of CRLF lines from an alphabet rich in dots, CRs and LFs. */
const bodyArb = fc
  .array(fc.string({ unit: fc.constantFrom(".", "a", " ", "\r", "\n", "é"), maxLength: 8 }), { maxLength: 8 })
  .map((lines) => lines.length === 0 ? "" : lines.join("\r\n") + "\r\n")

/** A plaintext server (unless `config` says otherwise) and a client past the greeting and EHLO. */
const started = (config: SmtpServer.Config = {}) =>
  Effect.gen(function*() {
    const server = yield* SmtpServer.make({ security: "plaintext", ...config })
    const client = yield* open(server)
    yield* reply(client)
    yield* send(client, "EHLO c")
    return { server, client }
  })

const ended = (server: SmtpServer.SmtpServer) =>
  Effect.map(server.ended, (connection) => {
    assert.isDefined(connection.recording)
    return { connection, recording: connection.recording! }
  })

/** Reads whole replies from a core TransportConnection. */
const replies = (connection: TransportConnection) => {
  let buffer = ""
  const next: Effect.Effect<string, unknown> = Effect.gen(function*() {
    while (true) {
      const match = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.exec(buffer)
      if (match !== null) {
        buffer = buffer.slice(match[0].length)
        return match[0]
      }
      for (const chunk of yield* connection.pull) buffer += latin1(chunk)
    }
  })
  return {
    next,
    send: (line: string) => Effect.andThen(connection.write([bytes(`${line}\r\n`)]), next)
  }
}

/** Greeting to SCRAM-SHA-256-PLUS success over core's Transport (MemoryTransport: real TLS in memory). */
const scramOverTransport = Effect.gen(function*() {
  const transport = yield* Transport
  const connection = yield* transport.connect({ host: "localhost", port: 587, timeout: 1000 })
  const lines = replies(connection)
  assert.strictEqual(yield* lines.next, "220 localhost ESMTP Postfix\r\n")
  yield* lines.send("EHLO c")
  assert.strictEqual(yield* lines.send("STARTTLS"), "220 2.0.0 Ready to start TLS\r\n")
  const session = yield* connection.upgrade({ host: "localhost", trustOnly: [Certificates.ca.cert] })
  assert.match(yield* lines.send("EHLO c"), /250-AUTH SCRAM-SHA-256-PLUS\r\n/)
  const credentials = Credentials.password({ username: "alice", password: Redacted.make("wonderland") })
  const initial = Result.getOrThrow(
    Sasl.start("SCRAM-SHA-256-PLUS", { credentials, channelBinding: session.channelBinding })
  )
  const first = yield* lines.send(`AUTH SCRAM-SHA-256-PLUS ${b64(Redacted.value(initial.response!))}`)
  const final = Result.getOrThrow(Sasl.step(initial.state, new Uint8Array(Buffer.from(first.slice(4, -2), "base64"))))
  const signature = yield* lines.send(b64(Redacted.value(final.response)))
  Result.getOrThrow(Sasl.step(final.state, new Uint8Array(Buffer.from(signature.slice(4, -2), "base64"))))
  assert.strictEqual(yield* lines.send(""), "235 2.7.0 Authentication successful\r\n")
})

describe("SmtpServer", () => {
  describe("greeting and EHLO", () => {
    it.live("EHLO before and after STARTTLS is Postfix submission's, over real TLS", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make(alice)
        const client = yield* open(server)
        assert.strictEqual(yield* reply(client), "220 localhost ESMTP Postfix\r\n")
        assert.strictEqual(yield* send(client, "EHLO client.example"), ehlo(POSTFIX_PLAIN))
        assert.strictEqual(yield* send(client, "STARTTLS"), "220 2.0.0 Ready to start TLS\r\n")
        const socket = yield* client.startTls(trusted)
        assert.isTrue(socket.authorized)
        assert.strictEqual(yield* send(client, "EHLO client.example"), ehlo(POSTFIX_TLS))
        assert.strictEqual(yield* send(client, "QUIT"), "221 2.0.0 Bye\r\n")
        yield* client.awaitClosed
        const { connection, recording } = yield* ended(server)
        assert.deepStrictEqual(recording.outcome, { _tag: "Completed" })
        assert.strictEqual(recording.handshake?.protocol, "TLSv1.3")
        assert.strictEqual(Recording.plaintextClientBytes(recording), "EHLO client.example\r\nSTARTTLS\r\n")
        assert.strictEqual(Recording.tlsClientBytes(recording), "EHLO client.example\r\nQUIT\r\n")
        assert.deepStrictEqual(
          connection.entries.map((e) => e._tag === "Command" ? `${e.phase}:${e.verb}` : e._tag),
          ["plain:EHLO", "plain:STARTTLS", "tls:EHLO", "tls:QUIT"]
        )
      }))

    it.live("configured extension lists, mechanisms, name and greeting", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({
          ...alice,
          name: "mx.example",
          greeting: "220-mx.example first line\r\n220 mx.example ESMTP ready",
          mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"],
          extensions: { plain: ["STARTTLS", "SIZE 1000"] },
          limits: { maxMessageSize: 2048 }
        })
        const client = yield* open(server)
        assert.strictEqual(yield* reply(client), "220-mx.example first line\r\n220 mx.example ESMTP ready\r\n")
        assert.strictEqual(yield* send(client, "EHLO c"), ehlo(["mx.example", "STARTTLS", "SIZE 1000"]))
        yield* send(client, "STARTTLS")
        yield* client.startTls(trusted)
        assert.strictEqual(
          yield* send(client, "EHLO c"),
          ehlo([
            "mx.example",
            "PIPELINING",
            "SIZE 2048",
            "VRFY",
            "ETRN",
            "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING"
          ])
        )
        // Only advertised mechanisms are accepted.
        assert.strictEqual(yield* send(client, "AUTH LOGIN"), "504 5.5.4 Unrecognized authentication type\r\n")
      }))

    it.live("HELO has no extensions: parameters are refused and enhanced codes dropped", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ security: "plaintext" })
        const client = yield* open(server)
        yield* reply(client)
        assert.strictEqual(yield* send(client, "HELO c"), "250 localhost\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> SIZE=10"), "555 Unsupported option: SIZE\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "250 Ok\r\n")
        assert.strictEqual(yield* send(client, "BDAT 1 LAST"), "502 Error: command not recognized\r\n")
      }))

    it.live("a 554 greeting refuses everything but QUIT", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ greeting: "554 5.3.2 localhost no service" })
        const client = yield* open(server)
        assert.strictEqual(yield* reply(client), "554 5.3.2 localhost no service\r\n")
        assert.strictEqual(yield* send(client, "EHLO c"), "503 5.5.1 Error: bad sequence of commands\r\n")
        assert.strictEqual(yield* send(client, "QUIT"), "221 2.0.0 Bye\r\n")
        yield* client.awaitClosed
      }))

    it.live("unknown commands, bare LF and over-long lines (RFC 5321 §4.5.3.1.4)", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ security: "plaintext" })
        const client = yield* open(server)
        yield* reply(client)
        assert.strictEqual(yield* send(client, "XYZZY"), "502 5.5.2 Error: command not recognized\r\n")
        yield* client.write("NOOP\n")
        assert.strictEqual(yield* reply(client), "500 5.5.2 Error: bare <LF> received\r\n")
        assert.strictEqual(yield* send(client, `NOOP ${"x".repeat(505)}`), "250 2.0.0 Ok\r\n") // 512 with CRLF
        assert.strictEqual(yield* send(client, `NOOP ${"x".repeat(506)}`), "500 5.5.2 Error: line too long\r\n")
        assert.strictEqual(yield* send(client, `NOOP ${"x".repeat(20_000)}`), "500 5.5.2 Error: line too long\r\n")
        assert.strictEqual(yield* send(client, "NOOP"), "250 2.0.0 Ok\r\n")
        assert.strictEqual(yield* send(client, "VRFY bob"), "252 2.0.0 bob\r\n")
        yield* send(client, "QUIT")
        const { connection } = yield* ended(server)
        assert.deepStrictEqual(
          connection.entries.filter((e) => e._tag === "BadLine").map((e) => `${e.reason}:${e.length}`),
          ["BareLf:5", "TooLong:513", "TooLong:20007"]
        )
      }))
  })

  it.live("serves TCP connections through LoopbackServer, STARTTLS included", () =>
    Effect.gen(function*() {
      const server = yield* SmtpServer.make(alice)
      const loopback = yield* LoopbackServer.make(server.handler)
      const socket = yield* Effect.callback<Net.Socket>((resume) => {
        const s = Net.connect({ host: loopback.host, port: loopback.port }, () => resume(Effect.succeed(s)))
      })
      const client = TestClient.make(socket)
      yield* Effect.addFinalizer(() => client.destroy)
      yield* secure(client)
      assert.strictEqual(yield* send(client, plainAuth), "235 2.7.0 Authentication successful\r\n")
      assert.strictEqual(yield* send(client, "QUIT"), "221 2.0.0 Bye\r\n")
      yield* client.awaitClosed
      const { recording } = yield* ended(server)
      assert.deepStrictEqual(recording.outcome, { _tag: "Completed" })
      assert.strictEqual(Recording.tlsClientBytes(recording), `EHLO client.example\r\n${plainAuth}\r\nQUIT\r\n`)
    }))

  describe("STARTTLS", () => {
    it.live("AUTH and MAIL before TLS get 530; after TLS everything is forgotten (RFC 3207 §4.2)", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make(alice)
        const client = yield* open(server)
        yield* reply(client)
        yield* send(client, "EHLO c")
        const refused = "530 5.7.0 Must issue a STARTTLS command first\r\n"
        assert.strictEqual(yield* send(client, plainAuth), refused)
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), refused)
        assert.strictEqual(yield* send(client, "RCPT TO:<b@x>"), refused)
        yield* send(client, "STARTTLS")
        yield* client.startTls(trusted)
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "503 5.5.1 Error: send HELO/EHLO first\r\n")
        assert.strictEqual(yield* send(client, "STARTTLS"), "554 5.5.1 Error: TLS already active\r\n")
        yield* send(client, "EHLO c")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "250 2.1.0 Ok\r\n")
        assert.lengthOf(server.messages(), 0)
      }))

    it.live("commands pipelined after STARTTLS are discarded and recorded", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make(alice)
        const client = yield* open(server)
        yield* reply(client)
        yield* send(client, "EHLO c")
        yield* client.write("STARTTLS\r\nEHLO injected\r\n")
        assert.strictEqual(yield* reply(client), "220 2.0.0 Ready to start TLS\r\n")
        yield* client.startTls(trusted)
        assert.strictEqual(yield* send(client, "NOOP"), "250 2.0.0 Ok\r\n")
        yield* client.end
        const { connection, recording } = yield* ended(server)
        assert.strictEqual(latin1(recording.sentBeforeHandshake), "EHLO injected\r\n")
        assert.deepStrictEqual(recording.outcome, { _tag: "ClientClosed", line: 3, phase: "tls" })
        assert.isFalse(connection.entries.some((e) => e._tag === "Command" && e.line === "EHLO injected"))
      }))

    it.live("a configured 454 or 502 keeps the session in plaintext", () =>
      Effect.gen(function*() {
        for (const answer of ["454 4.7.0 TLS not available due to local problem", "502 5.5.1 Not implemented"]) {
          const server = yield* SmtpServer.make({ startTlsReply: answer })
          const client = yield* open(server)
          yield* reply(client)
          yield* send(client, "EHLO c")
          assert.strictEqual(yield* send(client, "STARTTLS"), `${answer}\r\n`)
          assert.strictEqual(yield* send(client, "NOOP"), "250 2.0.0 Ok\r\n")
          yield* client.destroy
        }
      }))

    it.live("a client that refuses the certificate ends with HandshakeFailed", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ certificate: "wrong-name" })
        const client = yield* open(server)
        yield* reply(client)
        yield* send(client, "STARTTLS")
        const failed = yield* Effect.flip(client.startTls(trusted))
        assert.strictEqual(failed.reason, "tls")
        yield* client.destroy
        const { recording } = yield* ended(server)
        assert.strictEqual(recording.outcome._tag, "HandshakeFailed")
      }))

    it.live("implicit TLS: handshake first, AUTH offered, no STARTTLS", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ ...alice, security: "implicit-tls" })
        const client = yield* open(server)
        const socket = yield* client.startTls(trusted)
        assert.isTrue(socket.authorized)
        assert.strictEqual(yield* reply(client), "220 localhost ESMTP Postfix\r\n")
        assert.strictEqual(yield* send(client, "EHLO c"), ehlo(POSTFIX_TLS))
        assert.strictEqual(yield* send(client, "STARTTLS"), "554 5.5.1 Error: TLS already active\r\n")
        assert.strictEqual(yield* send(client, plainAuth), "235 2.7.0 Authentication successful\r\n")
      }))

    it.live("plaintext: the post-TLS list without TLS, STARTTLS 502, AUTH in clear", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ ...alice, security: "plaintext" })
        const client = yield* open(server)
        yield* reply(client)
        assert.strictEqual(yield* send(client, "EHLO c"), ehlo(POSTFIX_TLS))
        assert.strictEqual(yield* send(client, "STARTTLS"), "502 5.5.1 Error: command not implemented\r\n")
        assert.strictEqual(yield* send(client, plainAuth), "235 2.7.0 Authentication successful\r\n")
        yield* client.destroy
        const { recording } = yield* ended(server)
        // The fake server makes the leak visible to the recording checks.
        const leaks = Recording.findSecretsInPlaintext(recording, ["wonderland"])
        assert.deepStrictEqual(leaks.map((l) => l.found), ["base64"])
      }))
  })

  describe("AUTH", () => {
    it.live("PLAIN with an initial response, with a 334 challenge, wrong password, cancel", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make(alice)
        const client = yield* open(server)
        yield* secure(client)
        assert.strictEqual(
          yield* send(client, `AUTH PLAIN ${b64("\0alice\0nope")}`),
          "535 5.7.8 Error: authentication failed\r\n"
        )
        assert.strictEqual(yield* send(client, "AUTH PLAIN"), "334 \r\n")
        assert.strictEqual(yield* send(client, "*"), "501 5.7.0 Authentication aborted\r\n")
        assert.strictEqual(yield* send(client, "AUTH PLAIN"), "334 \r\n")
        assert.strictEqual(yield* send(client, "not base64!"), "501 5.5.2 Cannot decode response\r\n")
        assert.strictEqual(yield* send(client, "AUTH PLAIN"), "334 \r\n")
        assert.strictEqual(yield* send(client, b64("\0alice\0wonderland")), "235 2.7.0 Authentication successful\r\n")
        assert.strictEqual(yield* send(client, plainAuth), "503 5.5.1 Error: already authenticated\r\n")
        yield* send(client, "MAIL FROM:<alice@x>")
        yield* send(client, "RCPT TO:<bob@x>")
        yield* send(client, "DATA")
        yield* send(client, "Hi\r\n.")
        assert.strictEqual(server.messages()[0]?.authenticatedAs, "alice")
        const { connection } = yield* Effect.andThen(client.destroy, ended(server))
        assert.deepStrictEqual(
          connection.entries.filter((e) => e._tag === "SaslResponse").map((e) => e.line),
          ["*", "not base64!", b64("\0alice\0wonderland")]
        )
      }))

    it.live("LOGIN prompts for the username and the password", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make(alice)
        const client = yield* open(server)
        yield* secure(client)
        assert.strictEqual(yield* send(client, "AUTH LOGIN"), `334 ${b64("Username:")}\r\n`)
        assert.strictEqual(yield* send(client, b64("alice")), `334 ${b64("Password:")}\r\n`)
        assert.strictEqual(yield* send(client, b64("wonderland")), "235 2.7.0 Authentication successful\r\n")
      }))

    it.live("SCRAM-SHA-256-PLUS with tls-exporter channel binding (core's SASL client)", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ ...alice, mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"] })
        const credentials = Credentials.password({ username: "alice", password: Redacted.make("wonderland") })
        const run = (binding: (real: Uint8Array) => Uint8Array) =>
          Effect.gen(function*() {
            const client = yield* open(server)
            const socket = yield* secure(client)
            const real = new Uint8Array(socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)))
            const initial = Result.getOrThrow(
              Sasl.start("SCRAM-SHA-256-PLUS", { credentials, channelBinding: binding(real) })
            )
            const first = yield* send(client, `AUTH SCRAM-SHA-256-PLUS ${b64(Redacted.value(initial.response!))}`)
            assert.match(first, /^334 /)
            const serverFirst = new Uint8Array(Buffer.from(first.slice(4, -2), "base64"))
            const final = Result.getOrThrow(Sasl.step(initial.state, serverFirst))
            const answer = yield* send(client, b64(Redacted.value(final.response)))
            if (!answer.startsWith("334 ")) return answer
            const verified = Result.getOrThrow(Sasl.step(final.state, new Uint8Array(Buffer.from(answer.slice(4, -2), "base64"))))
            assert.isTrue(verified.done)
            return yield* send(client, "")
          })
        assert.strictEqual(yield* run((real) => real), "235 2.7.0 Authentication successful\r\n")
        // A man in the middle has another TLS session, hence other exporter bytes.
        assert.strictEqual(
          yield* run((real) => real.map((b) => b ^ 1)),
          "535 5.7.8 Error: authentication failed\r\n"
        )
      }))

    it.live("a forged SCRAM server signature is caught by the client", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({
          ...alice,
          mechanisms: ["SCRAM-SHA-256"],
          scram: { forgeServerSignature: true, iterations: 4096 }
        })
        const client = yield* open(server)
        yield* secure(client)
        const credentials = Credentials.password({ username: "alice", password: Redacted.make("wonderland") })
        const initial = Result.getOrThrow(Sasl.start("SCRAM-SHA-256", { credentials }))
        const first = yield* send(client, `AUTH SCRAM-SHA-256 ${b64(Redacted.value(initial.response!))}`)
        assert.match(first, /^334 /)
        const final = Result.getOrThrow(Sasl.step(initial.state, new Uint8Array(Buffer.from(first.slice(4, -2), "base64"))))
        const signature = yield* send(client, b64(Redacted.value(final.response)))
        const verified = Sasl.step(final.state, new Uint8Array(Buffer.from(signature.slice(4, -2), "base64")))
        assert.isTrue(Result.isFailure(verified))
        assert.strictEqual(yield* send(client, "*"), "501 5.7.0 Authentication aborted\r\n")
      }))

    it.live("XOAUTH2: a good token, and a bad one answered with the JSON error challenge", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ tokens: { alice: "ya29.token" }, mechanisms: ["XOAUTH2"] })
        const client = yield* open(server)
        yield* secure(client)
        const bad = yield* send(client, `AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer expired\x01\x01")}`)
        assert.deepStrictEqual(JSON.parse(Buffer.from(bad.slice(4, -2), "base64").toString()).status, "401")
        assert.strictEqual(yield* send(client, ""), "535 5.7.8 Error: authentication failed\r\n")
        assert.strictEqual(
          yield* send(client, `AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer ya29.token\x01\x01")}`),
          "235 2.7.0 Authentication successful\r\n"
        )
      }))

    it.live("SCRAM-SHA-256-PLUS through MemoryTransport and core's DuplexTransport", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ ...alice, mechanisms: ["SCRAM-SHA-256-PLUS"] })
        yield* scramOverTransport.pipe(Effect.provide(MemoryTransport.layer(server.handler)))
        const responses = (server.connections()[0]?.entries ?? []).filter((e) => e._tag === "SaslResponse")
        assert.deepStrictEqual(responses.map((e) => e.phase), ["tls", "tls"])
        assert.strictEqual(responses[1]?.line, "")
      }))
  })

  describe("mail transactions", () => {
    it.live("a dot-stuffed body arrives unstuffed, byte-exact, with its envelope", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make(alice)
        const client = yield* open(server)
        yield* secure(client)
        yield* send(client, plainAuth)
        assert.strictEqual(
          yield* send(client, "MAIL FROM:<alice@example.com> SIZE=40 BODY=8BITMIME RET=HDRS ENVID=id+2B1 AUTH=<>"),
          "250 2.1.0 Ok\r\n"
        )
        assert.strictEqual(yield* send(client, "RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com"), "250 2.1.5 Ok\r\n")
        assert.strictEqual(yield* send(client, "RCPT TO:<Postmaster>"), "250 2.1.5 Ok\r\n")
        assert.strictEqual(yield* send(client, "DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
        const body = ".leading\r\n..two\r\n.\r\n\r\nlast line \xe9\r\n"
        yield* client.write(bytes(stuff(body)))
        assert.strictEqual(yield* reply(client), "250 2.0.0 Ok: queued as 0000000001\r\n")
        const [message] = server.messages()
        assert.isDefined(message)
        assert.deepStrictEqual(message!.body, bytes(body))
        assert.strictEqual(message!.from, "alice@example.com")
        assert.deepStrictEqual(message!.recipients, ["bob@example.com", "Postmaster"])
        assert.deepStrictEqual(message!.params, { SIZE: "40", BODY: "8BITMIME", RET: "HDRS", ENVID: "id+2B1", AUTH: "<>" })
        assert.deepStrictEqual(message!.recipientParams, [
          { NOTIFY: "SUCCESS,FAILURE", ORCPT: "rfc822;bob@example.com" },
          {}
        ])
        assert.strictEqual(SmtpServer.decodeXtext(String(message!.params["ENVID"])), "id+1")
        assert.isTrue(message!.secure)
        assert.strictEqual(message!.transfer, "DATA")
      }))

    it.live("pipelined MAIL, RCPT, RCPT, DATA in one write: replies in order, in one write", () =>
      Effect.gen(function*() {
        const { server, client } = yield* started({
          recipients: { "nobody@x": "550 5.1.1 <nobody@x>: Recipient address rejected: no such user" }
        })
        const before = client.received.length
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<nobody@x>\r\nDATA\r\n")
        const chunks = yield* client.awaitChunks(before + 1)
        assert.strictEqual(
          chunks[before]?.text,
          "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@x>: Recipient address rejected: no such user\r\n" +
            "354 End data with <CR><LF>.<CR><LF>\r\n"
        )
        // Content that looks like commands is content; the next command after the terminator is one.
        yield* client.write("RSET\r\nQUIT\r\n.\r\nNOOP\r\n")
        for (let i = 0; i < 4; i++) yield* client.readLine
        assert.strictEqual(yield* reply(client), "250 2.0.0 Ok: queued as 0000000001\r\n")
        assert.strictEqual(yield* reply(client), "250 2.0.0 Ok\r\n")
        const [message] = server.messages()
        assert.strictEqual(latin1(message!.body), "RSET\r\nQUIT\r\n")
        assert.deepStrictEqual(message!.recipients, ["b@x"])
      }))

    it.live("any chunking of a pipelined transaction gives the same body and replies", () =>
      Effect.gen(function*() {
        const samples = fc.sample(
          bodyArb.chain((body) =>
            Chunking.splits(bytes(`MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n${stuff(body)}NOOP\r\n`))
              .map((chunks) => ({ body, chunks }))
          ),
          { numRuns: 25, seed: 5321 }
        )
        const server = yield* SmtpServer.make({ security: "plaintext" })
        for (const [i, { body, chunks }] of samples.entries()) {
          const client = yield* open(server)
          yield* reply(client)
          yield* send(client, "EHLO c")
          for (const chunk of chunks) yield* client.write(chunk)
          const replies = [yield* reply(client), yield* reply(client), yield* reply(client)]
          assert.deepStrictEqual(replies, ["250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"])
          assert.match(yield* reply(client), /^250 2\.0\.0 Ok: queued as /)
          assert.strictEqual(yield* reply(client), "250 2.0.0 Ok\r\n")
          assert.deepStrictEqual(server.messages()[i]?.body, bytes(body))
          yield* client.destroy
        }
      }))

    it.live("BDAT chunks are never read as commands; LAST delivers; BINARYMIME only with BDAT", () =>
      Effect.gen(function*() {
        const { server, client } = yield* started({
          extensions: { plain: ["PIPELINING", "CHUNKING", "BINARYMIME", "ENHANCEDSTATUSCODES"] }
        })
        yield* send(client, "MAIL FROM:<a@x> BODY=BINARYMIME")
        yield* send(client, "RCPT TO:<b@x>")
        assert.strictEqual(yield* send(client, "DATA"), "503 5.5.1 Error: BODY=BINARYMIME requires BDAT\r\n")
        yield* client.write(bytes("BDAT 12\r\nQUIT\r\n.\r\n\x00\xff!BDAT 3 LAST\r\nend"))
        assert.strictEqual(yield* reply(client), "250 2.0.0 Ok: 12 bytes\r\n")
        assert.strictEqual(yield* reply(client), "250 2.0.0 Ok: queued as 0000000001\r\n")
        assert.strictEqual(yield* send(client, "DATA"), "503 5.5.1 Error: need RCPT command\r\n")
        const [message] = server.messages()
        assert.strictEqual(latin1(message!.body), "QUIT\r\n.\r\n\x00\xff!end")
        assert.strictEqual(message!.transfer, "BDAT")
        // A chunk without a transaction is still read whole, then refused.
        yield* client.write("BDAT 6 LAST\r\nRSET\r\n")
        assert.strictEqual(yield* reply(client), "503 5.5.1 Error: need MAIL command\r\n")
        assert.strictEqual(yield* send(client, "NOOP"), "250 2.0.0 Ok\r\n")
        const entries = server.connections()[0]!.entries
        assert.deepStrictEqual(
          entries.filter((e) => e._tag === "Payload").map((e) => `${e.command}:${e.size}`),
          ["BDAT:12", "BDAT:3", "BDAT:6"]
        )
      }))

    it.live("SIZE above the limit is refused at MAIL, and an oversized body at the end", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ security: "plaintext", limits: { maxMessageSize: 100 } })
        const client = yield* open(server)
        yield* reply(client)
        assert.match(yield* send(client, "EHLO c"), /250-SIZE 100\r\n/)
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> SIZE=101"), "552 5.3.4 Message size exceeds fixed limit\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> SIZE=100"), "250 2.1.0 Ok\r\n")
        yield* send(client, "RCPT TO:<b@x>")
        yield* send(client, "DATA")
        yield* client.write(stuff(`${"x".repeat(99)}\r\n`))
        assert.strictEqual(yield* reply(client), "552 5.3.4 Error: message file too big\r\n")
        assert.lengthOf(server.messages(), 0)
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "250 2.1.0 Ok\r\n")
      }))

    it.live("parameters: unsupported, malformed, REQUIRETLS only over TLS, SMTPUTF8 addresses", () =>
      Effect.gen(function*() {
        const withRequireTls = [...POSTFIX_PLAIN.slice(1), "REQUIRETLS"]
        const server = yield* SmtpServer.make({
          ...alice,
          requireTls: false,
          extensions: { plain: withRequireTls, tls: [...POSTFIX_TLS.slice(1), "REQUIRETLS"] }
        })
        const client = yield* open(server)
        yield* reply(client)
        yield* send(client, "EHLO c")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> REQUIRETLS"), "530 5.7.10 REQUIRETLS needs a TLS session\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> FOO=1"), "555 5.5.4 Unsupported option: FOO\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> BODY=9BIT"), "501 5.5.4 Bad BODY parameter\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> ENVID=a=b"), "501 5.5.4 Bad ENVID parameter syntax\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> RET=FULL RET=HDRS"), "501 5.5.4 Duplicate RET parameter\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM: <a@x>"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<\xc3\xa9@x>"), "553 5.6.7 Sender address needs SMTPUTF8\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<\xc3\xa9@x> SMTPUTF8"), "250 2.1.0 Ok\r\n")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "503 5.5.1 Error: nested MAIL command\r\n")
        assert.strictEqual(yield* send(client, "RCPT TO:<>"), "501 5.1.3 Bad recipient address syntax\r\n")
        assert.strictEqual(yield* send(client, "RCPT TO:<b@x> NOTIFY=NEVER,DELAY"), "501 5.5.4 Bad NOTIFY parameter\r\n")
        assert.strictEqual(yield* send(client, "RCPT TO:<\xc3\xbc@x>"), "250 2.1.5 Ok\r\n")
        yield* send(client, "DATA")
        yield* send(client, ".")
        assert.strictEqual(server.messages()[0]?.from, "é@x")
        assert.deepStrictEqual(server.messages()[0]?.recipients, ["ü@x"])
        assert.deepStrictEqual(server.messages()[0]?.body, new Uint8Array(0))
        yield* send(client, "STARTTLS")
        yield* client.startTls(trusted)
        yield* send(client, "EHLO c")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x> REQUIRETLS"), "250 2.1.0 Ok\r\n")
      }))

    it.live("per-recipient replies from a function; RSET; requireAuth; recipient limit", () =>
      Effect.gen(function*() {
        const { client } = yield* started({
          ...alice,
          requireAuth: true,
          limits: { maxRecipients: 2 },
          recipients: (address) => address.startsWith("later") ? "450 4.2.1 <later@x>: try again later" : undefined
        })
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "530 5.7.0 Authentication required\r\n")
        yield* send(client, plainAuth)
        yield* send(client, "MAIL FROM:<a@x>")
        assert.strictEqual(yield* send(client, "RCPT TO:<later@x>"), "450 4.2.1 <later@x>: try again later\r\n")
        assert.strictEqual(yield* send(client, "DATA"), "554 5.5.1 Error: no valid recipients\r\n")
        yield* send(client, "RCPT TO:<b@x>")
        yield* send(client, "RCPT TO:<c@x>")
        assert.strictEqual(yield* send(client, "RCPT TO:<d@x>"), "452 4.5.3 Error: too many recipients\r\n")
        assert.strictEqual(yield* send(client, "RSET"), "250 2.0.0 Ok\r\n")
        assert.strictEqual(yield* send(client, "RCPT TO:<b@x>"), "503 5.5.1 Error: need MAIL command\r\n")
      }))

    it.live("a configured final reply refuses the message", () =>
      Effect.gen(function*() {
        const { server, client } = yield* started({
          finalReply: (message) => latin1(message.body).includes("spam") ? "554 5.7.1 Rejected as spam" : undefined
        })
        for (const text of ["spam\r\n", "ham\r\n"]) {
          yield* send(client, "MAIL FROM:<a@x>")
          yield* send(client, "RCPT TO:<b@x>")
          yield* send(client, "DATA")
          yield* client.write(stuff(text))
          yield* reply(client)
        }
        assert.deepStrictEqual(server.messages().map((m) => latin1(m.body)), ["ham\r\n"])
        assert.strictEqual(server.messages()[0]?.id, "0000000002")
      }))
  })

  describe("LMTP", () => {
    it.live("LHLO, no EHLO, one reply per accepted recipient after DATA and BDAT LAST", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({
          mode: "lmtp",
          security: "plaintext",
          recipients: { "gone@x": "550 5.1.1 <gone@x> User doesn't exist" },
          deliveries: (address) => address === "full@x" ? "452 4.2.2 <full@x> Mailbox is full" : undefined
        })
        const client = yield* open(server)
        assert.strictEqual(yield* reply(client), "220 localhost LMTP ready\r\n")
        assert.strictEqual(yield* send(client, "EHLO c"), "500 5.5.1 Error: command not recognized: use LHLO\r\n")
        assert.match(yield* send(client, "LHLO c"), /^250-localhost\r\n250-PIPELINING\r\n/)
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<gone@x>\r\nRCPT TO:<full@x>\r\nDATA\r\n")
        for (let i = 0; i < 5; i++) yield* reply(client)
        yield* client.write(stuff("Hello\r\n"))
        assert.strictEqual(yield* reply(client), "250 2.0.0 <b@x> Ok: queued as 0000000001\r\n")
        assert.strictEqual(yield* reply(client), "452 4.2.2 <full@x> Mailbox is full\r\n")
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\nBDAT 2 LAST\r\nhi")
        for (let i = 0; i < 3; i++) yield* reply(client)
        assert.strictEqual(yield* reply(client), "250 2.0.0 <c@x> Ok: queued as 0000000002\r\n")
        assert.strictEqual(yield* reply(client), "250 2.0.0 <d@x> Ok: queued as 0000000002\r\n")
        assert.strictEqual(yield* send(client, "NOOP"), "250 2.0.0 Ok\r\n")
        assert.deepStrictEqual(server.messages().map((m) => m.recipients), [["b@x"], ["c@x", "d@x"]])
      }))
  })

  describe("faults", () => {
    it.live("closing in the middle of DATA after N bytes delivers nothing", () =>
      Effect.gen(function*() {
        const { server, client } = yield* started({ faults: { dropAfterPayloadBytes: 10 } })
        // Shorter than the limit: delivered.
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nhi\r\n.\r\n")
        for (let i = 0; i < 3; i++) yield* reply(client)
        assert.match(yield* reply(client), /^250 2\.0\.0 Ok: queued as /)
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        for (let i = 0; i < 3; i++) yield* reply(client)
        yield* client.write("0123456789abcdef\r\n.\r\n")
        yield* client.awaitClosed
        assert.deepStrictEqual(server.messages().map((m) => latin1(m.body)), ["hi\r\n"])
        const { recording } = yield* ended(server)
        assert.deepStrictEqual(recording.outcome, { _tag: "Completed" })
      }))

    it.live("closing in the middle of BDAT counts the chunks of the transaction", () =>
      Effect.gen(function*() {
        const { server, client } = yield* started({ faults: { dropAfterPayloadBytes: 6 } })
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 4\r\nabcd")
        for (let i = 0; i < 3; i++) yield* reply(client)
        yield* client.write("BDAT 4 LAST\r\nefgh")
        yield* client.awaitClosed
        assert.lengthOf(server.messages(), 0)
      }))

    it.live("a withheld final reply: silent (the client times out) or dropped; nothing delivered", () =>
      Effect.gen(function*() {
        const { server, client } = yield* started({ faults: { withholdFinalReply: "silent" } })
        yield* client.write("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        for (let i = 0; i < 3; i++) yield* reply(client)
        const before = client.received.length
        yield* client.write(stuff("body\r\n"))
        yield* Effect.sleep("100 millis")
        assert.strictEqual(client.received.length, before)
        assert.lengthOf(server.messages(), 0)
        server.setFaults({ withholdFinalReply: "drop" })
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "250 2.1.0 Ok\r\n")
        yield* send(client, "RCPT TO:<b@x>")
        yield* send(client, "DATA")
        yield* client.write(stuff("body\r\n"))
        yield* client.awaitClosed
        assert.lengthOf(server.messages(), 0)
      }))

    it.live("delayed replies", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({
          security: "plaintext",
          faults: { delayMs: (point) => point === "greeting" ? 150 : point === "NOOP" ? 100 : undefined }
        })
        const start = yield* Clock.currentTimeMillis
        const client = yield* open(server)
        yield* reply(client)
        const greeted = yield* Clock.currentTimeMillis
        assert.isAtLeast(greeted - start, 140)
        yield* send(client, "EHLO c")
        assert.isBelow((yield* Clock.currentTimeMillis) - greeted, 100)
        yield* send(client, "NOOP")
        assert.isAtLeast((yield* Clock.currentTimeMillis) - greeted, 95)
      }))

    it.live("a raw STARTTLS answer with injected lines in one write, then TLS (ATTACKS.md A38)", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({
          ...alice,
          faults: { override: { STARTTLS: { raw: "220 go\r\n250-injected\r\n", then: "execute" } } }
        })
        const client = yield* open(server)
        yield* reply(client)
        yield* send(client, "EHLO c")
        const before = client.received.length
        yield* client.write("STARTTLS\r\n")
        const chunks = yield* client.awaitChunks(before + 1)
        assert.strictEqual(chunks[before]?.text, "220 go\r\n250-injected\r\n")
        const socket = yield* client.startTls(trusted)
        assert.isTrue(socket.authorized)
        // "220 go" and the injected line are still in the test client's own buffer.
        assert.strictEqual((yield* client.readLine) + (yield* client.readLine), "220 go\r\n250-injected\r\n")
        assert.strictEqual(yield* send(client, "EHLO c"), ehlo(POSTFIX_TLS))
      }))

    it.live("raw answers: skip leaves the command without effect, close hangs up", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({
          security: "plaintext",
          faults: {
            override: (command) =>
              command.verb === "MAIL" ? { raw: "250 fine\r\n" } : command.verb === "RSET" ? { raw: "421 bye\r\n", then: "close" } : undefined
          }
        })
        const client = yield* open(server)
        yield* reply(client)
        yield* send(client, "EHLO c")
        assert.strictEqual(yield* send(client, "MAIL FROM:<a@x>"), "250 fine\r\n")
        assert.strictEqual(yield* send(client, "RCPT TO:<b@x>"), "503 5.5.1 Error: need MAIL command\r\n")
        assert.strictEqual(yield* send(client, "RSET"), "421 bye\r\n")
        yield* client.awaitClosed
      }))

    it.live("421 at a reply point, and shutdown of open connections", () =>
      Effect.gen(function*() {
        const server = yield* SmtpServer.make({ security: "plaintext", faults: { shutdownAt: "RCPT" } })
        const first = yield* open(server)
        yield* reply(first)
        yield* send(first, "EHLO c")
        yield* send(first, "MAIL FROM:<a@x>")
        assert.strictEqual(
          yield* send(first, "RCPT TO:<b@x>"),
          "421 4.3.2 localhost Service shutting down, closing transmission channel\r\n"
        )
        yield* first.awaitClosed
        server.setFaults({})
        const second = yield* open(server)
        yield* reply(second)
        yield* send(second, "EHLO c")
        yield* server.shutdown
        assert.strictEqual(yield* reply(second), "421 4.3.2 localhost Service shutting down, closing transmission channel\r\n")
        yield* second.awaitClosed
        const outcomes = [yield* ended(server), yield* ended(server)].map((e) => e.recording.outcome._tag)
        assert.deepStrictEqual(outcomes, ["Completed", "Completed"])
      }))
  })
})

describe("SmtpServer on arbitrary input", () => {
  const line = fc
    .constantFrom(
      "EHLO x",
      "HELO x",
      "LHLO x",
      "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME",
      "RCPT TO:<c@d> NOTIFY=NEVER",
      "DATA",
      "BDAT 5",
      "BDAT 3 LAST",
      "AUTH PLAIN",
      `AUTH PLAIN ${b64("\0alice\0wonderland")}`,
      "AUTH LOGIN",
      `AUTH SCRAM-SHA-256 ${b64("n,,n=alice,r=abc")}`,
      "*",
      "=",
      ".",
      "..x",
      "RSET",
      "NOOP",
      "VRFY x",
      "STARTTLS",
      "QUIT"
    )
    .map((text) => bytes(`${text}\r\n`))
  const input = fc.array(fc.oneof(line, fc.uint8Array({ maxLength: 40 })), { maxLength: 25 })

  it.live("ends every conversation without a defect, whatever the client sends", () =>
    Effect.gen(function*() {
      for (const chunks of fc.sample(input, { numRuns: 60, seed: 2920 })) {
        const server = yield* SmtpServer.make({ ...alice, security: "plaintext", mechanisms: ["PLAIN", "LOGIN", "SCRAM-SHA-256"] })
        const [clientEnd, serverEnd] = duplexPair()
        clientEnd.on("error", () => undefined)
        clientEnd.resume()
        const fiber = yield* Effect.forkChild(server.handler(serverEnd))
        for (const chunk of chunks) clientEnd.write(chunk)
        clientEnd.end()
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.isDefined(server.connections()[0]?.recording)
        clientEnd.destroy()
      }
    }))
})

describe("DotDecoder", () => {
  const decode = (chunks: ReadonlyArray<Uint8Array>) => {
    const out: Array<Uint8Array> = []
    const decoder = DotDecoder.make((b) => out.push(Uint8Array.from(b)))
    let consumed = 0
    for (const chunk of chunks) {
      const pushed = decoder.push(chunk)
      consumed += pushed.consumed
      if (pushed.done) return { body: latin1(Buffer.concat(out)), consumed }
    }
    return { body: latin1(Buffer.concat(out)), consumed: -1 }
  }

  it("unstuffs, stops at CRLF.CRLF only, keeps the last CRLF", () => {
    assert.deepStrictEqual(decode([bytes(".\r\n")]), { body: "", consumed: 3 })
    assert.deepStrictEqual(decode([bytes("a\r\n..b\r\n.c\r\n.\r\nNEXT")]), { body: "a\r\n.b\r\nc\r\n", consumed: 15 })
    // A bare LF or CR never starts or ends the terminator line (RFC 5321 §2.3.8).
    assert.deepStrictEqual(decode([bytes("a\n.\nb\r.\r\n.\r\n")]), { body: "a\n.\nb\r.\r\n", consumed: 12 })
    assert.deepStrictEqual(decode([bytes(".\rx\r\n.\r\n")]), { body: "\rx\r\n", consumed: 8 })
    assert.deepStrictEqual(decode([bytes("a\r\n.\n.\r\n")]).consumed, -1)
  })

  it("gives the body back for any body and any chunking", () => {
    fc.assert(
      fc.property(
        bodyArb.chain((body) => Chunking.splits(bytes(`${stuff(body)}QUIT\r\n`)).map((chunks) => ({ body, chunks }))),
        ({ body, chunks }) => {
          assert.deepStrictEqual(decode(chunks), { body, consumed: bytes(stuff(body)).length })
        }
      ),
      { numRuns: 500 }
    )
  })
})
