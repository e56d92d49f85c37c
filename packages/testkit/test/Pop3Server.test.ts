import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Sasl from "@starttls/core/Sasl"
import { Transport } from "@starttls/core/Transport"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import { duplexPair } from "node:stream"
import * as Certificates from "../src/Certificates.ts"
import * as SaslServer from "../src/internal/saslServer.ts"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import * as Pop3Server from "../src/Pop3Server.ts"
import * as Recording from "../src/Recording.ts"
import * as TestClient from "./helpers/TestClient.ts"

const trusted = { ca: Certificates.ca.cert, servername: "localhost" } as const
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const unb64 = (text: string) => Buffer.from(text, "base64").toString("utf8")

const DOVECOT_BEFORE_TLS = "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nSASL\r\n.\r\n"
const DOVECOT_AFTER_TLS = "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
const PLAINTEXT_REFUSED = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"

const MESSAGES = [
  "Subject: one\r\n\r\nfirst body\r\n",
  "Subject: two\r\nX-A: b\r\n\r\n.starts with a dot\r\nmiddle\r\n..two dots\r\n.\r\nlast\r\n",
  "Subject: three\n\nbare LF body\n"
]

const makeServer = (config: Pop3Server.Config = {}) =>
  Pop3Server.make({ users: { test: { password: "secret", messages: MESSAGES } }, ...config })

/** Starts one session on an in-memory pair; the test drives the client end. */
const open = (server: Pop3Server.Pop3Server) =>
  Effect.gen(function*() {
    const [clientEnd, serverEnd] = duplexPair()
    const fiber = yield* Effect.forkChild(server.handler(serverEnd))
    return { client: TestClient.make(clientEnd), fiber }
  })

const command = (client: TestClient.TestClient, line: string) =>
  Effect.flatMap(client.write(`${line}\r\n`), () => client.readLine)

/** The rest of a multi-line reply after its status line, up to and including ".\r\n". */
const readBody = (client: TestClient.TestClient) =>
  Effect.gen(function*() {
    let text = ""
    while (true) {
      const line = yield* client.readLine
      text += line
      if (line === ".\r\n") return text
    }
  })

const multi = (client: TestClient.TestClient, line: string) =>
  Effect.gen(function*() {
    const status = yield* command(client, line)
    return status.startsWith("+OK") ? status + (yield* readBody(client)) : status
  })

/** Greeting, STLS, TLS handshake; returns the greeting. */
const upgrade = (client: TestClient.TestClient) =>
  Effect.gen(function*() {
    const greeting = yield* client.readLine
    assert.strictEqual(yield* command(client, "STLS"), "+OK Begin TLS negotiation now.\r\n")
    yield* client.startTls(trusted)
    return greeting
  })

/** Greeting, STLS, USER/PASS as test/secret. */
const loggedIn = (server: Pop3Server.Pop3Server) =>
  Effect.gen(function*() {
    const session = yield* open(server)
    yield* upgrade(session.client)
    assert.strictEqual(yield* command(session.client, "USER test"), "+OK\r\n")
    assert.strictEqual(yield* command(session.client, "PASS secret"), "+OK Logged in.\r\n")
    return session
  })

const quit = (client: TestClient.TestClient, expected = "+OK Logging out.\r\n") =>
  Effect.gen(function*() {
    assert.strictEqual(yield* command(client, "QUIT"), expected)
    yield* client.awaitClosed
  })

describe("Pop3Server: greeting, CAPA and STLS", () => {
  it.live("mirrors Dovecot's CAPA before and after STLS, with real TLS in between", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client, fiber } = yield* open(server)
      assert.strictEqual(yield* client.readLine, "+OK Dovecot (Debian) ready. <1.0@localhost>\r\n")
      assert.strictEqual(yield* multi(client, "CAPA"), DOVECOT_BEFORE_TLS)
      assert.strictEqual(yield* command(client, "STLS"), "+OK Begin TLS negotiation now.\r\n")
      const tls = yield* client.startTls(trusted)
      assert.isTrue(tls.authorized)
      assert.strictEqual(yield* multi(client, "CAPA"), DOVECOT_AFTER_TLS)
      assert.strictEqual(yield* command(client, "STLS"), "-ERR TLS is already active.\r\n")
      yield* quit(client)
      const session = yield* Fiber.join(fiber)
      assert.deepStrictEqual(session.end, { _tag: "Quit" })
      assert.isTrue(session.secure)
      assert.strictEqual(session.recording.handshake?.protocol, "TLSv1.3")
      assert.strictEqual(Recording.plaintextClientBytes(session.recording), "CAPA\r\nSTLS\r\n")
      assert.strictEqual(Recording.tlsClientBytes(session.recording), "CAPA\r\nSTLS\r\nQUIT\r\n")
      assert.deepStrictEqual(
        session.commands.map((c) => `${c.phase}/${c.state}:${c.line}`),
        ["plain/Authorization:CAPA", "plain/Authorization:STLS", "tls/Authorization:CAPA", "tls/Authorization:STLS", "tls/Authorization:QUIT"]
      )
    }))

  it.live("configured mechanisms appear after TLS only; capability lists can be replaced", () =>
    Effect.gen(function*() {
      const caps = Pop3Server.defaultCapabilities("starttls", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"])
      assert.deepStrictEqual(caps.beforeTls.at(-1), "SASL SCRAM-SHA-256")
      assert.deepStrictEqual(caps.afterTls.at(-1), "SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN")
      const server = yield* makeServer({ capabilities: { beforeTls: ["STLS", ".odd"] }, apopTimestamp: false })
      const { client } = yield* open(server)
      assert.strictEqual(yield* client.readLine, "+OK Dovecot (Debian) ready.\r\n")
      // A line starting with "." is dot-stuffed like any multi-line body.
      assert.strictEqual(yield* multi(client, "CAPA"), "+OK\r\nSTLS\r\n..odd\r\n.\r\n")
    }))

  it.live("USER is refused before TLS with Dovecot's line and accepted after it", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client, fiber } = yield* open(server)
      yield* client.readLine
      assert.strictEqual(yield* command(client, "USER test"), PLAINTEXT_REFUSED)
      assert.strictEqual(yield* command(client, "PASS secret"), PLAINTEXT_REFUSED)
      assert.strictEqual(yield* command(client, `AUTH PLAIN ${b64("\0test\0secret")}`), PLAINTEXT_REFUSED)
      assert.strictEqual(yield* command(client, "STAT"), "-ERR Unknown command.\r\n")
      assert.strictEqual(yield* command(client, "STLS"), "+OK Begin TLS negotiation now.\r\n")
      yield* client.startTls(trusted)
      assert.strictEqual(yield* command(client, "USER test"), "+OK\r\n")
      assert.strictEqual(yield* command(client, "PASS wrong"), "-ERR [AUTH] Authentication failed.\r\n")
      assert.strictEqual(yield* command(client, "PASS secret"), "-ERR No username given.\r\n")
      assert.strictEqual(yield* command(client, "USER test"), "+OK\r\n")
      assert.strictEqual(yield* command(client, "PASS secret"), "+OK Logged in.\r\n")
      assert.strictEqual(yield* command(client, "STAT"), "+OK 3 133\r\n")
      assert.strictEqual(yield* command(client, "USER test"), "-ERR Unknown command.\r\n")
      assert.strictEqual(yield* command(client, "STLS"), "-ERR Unknown command.\r\n")
      yield* quit(client)
      const session = yield* Fiber.join(fiber)
      assert.strictEqual(session.user, "test")
      assert.strictEqual(session.authentication, "USER")
      // The refused attempts did go out in clear: the recording shows it.
      assert.deepStrictEqual(Recording.findSecretsInPlaintext(session.recording, ["secret"]).map((l) => l.found), ["verbatim"])
    }))

  it.live("plaintext mode (the TLS_MODE=none twin): no STLS, USER/PASS in clear", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ security: "plaintext" })
      const { client } = yield* open(server)
      yield* client.readLine
      assert.strictEqual(yield* multi(client, "CAPA"), DOVECOT_AFTER_TLS)
      assert.strictEqual(yield* command(client, "STLS"), "-ERR TLS support isn't enabled.\r\n")
      assert.strictEqual(yield* command(client, "USER test"), "+OK\r\n")
      assert.strictEqual(yield* command(client, "PASS secret"), "+OK Logged in.\r\n")
      yield* quit(client)
    }))

  it.live("implicit TLS: handshake before the greeting; a refused STLS; a rejecting greeting", () =>
    Effect.gen(function*() {
      const pop3s = yield* makeServer({ security: "implicit-tls" })
      const [clientEnd, serverEnd] = duplexPair()
      const fiber = yield* Effect.forkChild(pop3s.handler(serverEnd))
      const client = TestClient.make(clientEnd)
      yield* client.startTls(trusted)
      assert.strictEqual(yield* client.readLine, "+OK Dovecot (Debian) ready. <1.0@localhost>\r\n")
      assert.strictEqual(yield* multi(client, "CAPA"), DOVECOT_AFTER_TLS)
      assert.strictEqual(yield* command(client, "STLS"), "-ERR TLS is already active.\r\n")
      yield* quit(client)
      assert.strictEqual((yield* Fiber.join(fiber)).recording.handshake?.line, 0)

      const refusing = yield* makeServer({ refuseStls: true })
      const second = yield* open(refusing)
      yield* second.client.readLine
      assert.strictEqual(yield* command(second.client, "STLS"), "-ERR [SYS/TEMP] TLS is temporarily unavailable.\r\n")
      assert.strictEqual(yield* command(second.client, "USER test"), PLAINTEXT_REFUSED)

      const busy = yield* makeServer({ rejectGreeting: "[SYS/TEMP] Server busy." })
      const third = yield* open(busy)
      assert.strictEqual(yield* third.client.readLine, "-ERR [SYS/TEMP] Server busy.\r\n")
      yield* third.client.awaitClosed
      assert.deepStrictEqual((yield* Fiber.join(third.fiber)).end, { _tag: "Rejected" })
    }))

  it.live("commands pipelined after STLS are not executed; they are recorded as sent before the handshake", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client, fiber } = yield* open(server)
      yield* client.readLine
      yield* client.write("STLS\r\nUSER test\r\n")
      assert.strictEqual(yield* client.readLine, "+OK Begin TLS negotiation now.\r\n")
      yield* client.startTls(trusted)
      assert.strictEqual(yield* command(client, "USER test"), "+OK\r\n")
      yield* quit(client)
      const session = yield* Fiber.join(fiber)
      assert.strictEqual(Buffer.from(session.recording.sentBeforeHandshake).toString(), "USER test\r\n")
      assert.deepStrictEqual(session.commands.map((c) => `${c.phase}:${c.line}`), ["plain:STLS", "tls:USER test", "tls:QUIT"])
    }))

  it.live("a failed handshake (untrusted certificate) ends the session with HandshakeFailed", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ certificate: "self-signed" })
      const { client, fiber } = yield* open(server)
      yield* client.readLine
      yield* command(client, "STLS")
      const error = yield* Effect.flip(client.startTls(trusted))
      assert.strictEqual(error.reason, "tls")
      const session = yield* Fiber.join(fiber)
      assert.strictEqual(session.end._tag, "HandshakeFailed")
      assert.strictEqual(session.recording.outcome._tag, "HandshakeFailed")
    }))
})

describe("Pop3Server: authentication", () => {
  it.live("APOP with the RFC 1939 §7 example", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({
        users: { mrose: "tanstaaf" },
        apopTimestamp: "<1896.697170952@dbc.mtview.ca.us>",
        banner: "POP3 server ready"
      })
      const { client, fiber } = yield* open(server)
      assert.strictEqual(yield* client.readLine, "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n")
      assert.strictEqual(
        yield* command(client, "APOP mrose c4c9334bac560ecc979e58001b3e22fa"),
        "-ERR [AUTH] Authentication failed.\r\n"
      )
      assert.strictEqual(yield* command(client, "APOP mrose c4c9334bac560ecc979e58001b3e22fb"), "+OK Logged in.\r\n")
      yield* quit(client)
      assert.strictEqual((yield* Fiber.join(fiber)).authentication, "APOP")

      const without = yield* Pop3Server.make({ apopTimestamp: false })
      const second = yield* open(without)
      yield* second.client.readLine
      assert.strictEqual(
        yield* command(second.client, "APOP test c4c9334bac560ecc979e58001b3e22fb"),
        "-ERR APOP is not available.\r\n"
      )
    }))

  it.live("AUTH PLAIN with an initial response, after a + challenge, cancelled, and wrong", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client, fiber } = yield* open(server)
      yield* upgrade(client)
      assert.strictEqual(yield* multi(client, "AUTH"), "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n")
      assert.strictEqual(yield* command(client, "AUTH PLAIN"), "+ \r\n")
      assert.strictEqual(yield* command(client, "*"), "-ERR Authentication aborted by client.\r\n")
      assert.strictEqual(yield* command(client, "AUTH PLAIN ="), "-ERR [AUTH] Authentication failed.\r\n")
      assert.strictEqual(yield* command(client, "AUTH PLAIN !!"), "-ERR Invalid base64 data in initial response.\r\n")
      assert.strictEqual(yield* command(client, `AUTH PLAIN ${b64("\0test\0nope")}`), "-ERR [AUTH] Authentication failed.\r\n")
      assert.strictEqual(yield* command(client, "AUTH CRAM-MD5"), "-ERR Unsupported authentication mechanism.\r\n")
      assert.strictEqual(yield* command(client, "AUTH PLAIN"), "+ \r\n")
      assert.strictEqual(yield* command(client, b64("\0test\0nope")), "-ERR [AUTH] Authentication failed.\r\n")
      assert.strictEqual(yield* command(client, `auth plain ${b64("\0test\0secret")}`), "+OK Logged in.\r\n")
      yield* quit(client)
      const session = yield* Fiber.join(fiber)
      assert.strictEqual(session.authentication, "PLAIN")
      assert.deepStrictEqual(
        session.commands.filter((c) => c.kind === "sasl").map((c) => c.line),
        ["*", b64("\0test\0nope")]
      )
      yield* Recording.assertNoSecretInPlaintext(session.recording, ["secret"])
    }))

  it.live("AUTH LOGIN, and XOAUTH2 with its error challenge", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({
        users: { test: { password: "secret", token: "ya29.token" } },
        mechanisms: ["LOGIN", "XOAUTH2"]
      })
      const first = yield* open(server)
      yield* upgrade(first.client)
      assert.strictEqual(yield* command(first.client, "AUTH LOGIN"), `+ ${b64("Username:")}\r\n`)
      assert.strictEqual(yield* command(first.client, b64("test")), `+ ${b64("Password:")}\r\n`)
      assert.strictEqual(yield* command(first.client, b64("secret")), "+OK Logged in.\r\n")
      yield* quit(first.client)

      const second = yield* open(server)
      yield* upgrade(second.client)
      const bad = b64("user=test\x01auth=Bearer wrong\x01\x01")
      const challenge = yield* command(second.client, `AUTH XOAUTH2 ${bad}`)
      assert.isTrue(challenge.startsWith("+ "))
      assert.include(unb64(challenge.slice(2)), `"status":"401"`)
      assert.strictEqual(yield* command(second.client, ""), "-ERR [AUTH] Authentication failed.\r\n")
      const good = b64("user=test\x01auth=Bearer ya29.token\x01\x01")
      assert.strictEqual(yield* command(second.client, `AUTH XOAUTH2 ${good}`), "+OK Logged in.\r\n")
    }))

  it.live("SCRAM-SHA-256-PLUS with tls-exporter, driven by core's SASL client over MemoryTransport", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({
        users: { test: "secret" },
        mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"]
      })
      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const transport = yield* Transport
        const connection = yield* transport.connect({ host: "localhost", port: 110, timeout: 1000 })
        const lines = lineReader(connection)
        const say = (line: string) =>
          Effect.flatMap(connection.write([new TextEncoder().encode(`${line}\r\n`)]), () => lines.next)
        yield* lines.next
        assert.strictEqual(yield* say("STLS"), "+OK Begin TLS negotiation now.")
        const tls = yield* connection.upgrade({ host: "localhost", trustOnly: [Certificates.ca.cert] })
        assert.isDefined(tls.channelBinding)
        const initial = Result.getOrThrow(Sasl.start("SCRAM-SHA-256-PLUS", {
          credentials: Credentials.password({ username: "test", password: Redacted.make("secret") }),
          channelBinding: tls.channelBinding,
          offered: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"]
        }))
        const serverFirst = yield* say(`AUTH SCRAM-SHA-256-PLUS ${b64bytes(Redacted.value(initial.response!))}`)
        assert.isTrue(unb64(serverFirst.slice(2)).startsWith("r="))
        const final = Result.getOrThrow(Sasl.step(initial.state, Buffer.from(serverFirst.slice(2), "base64")))
        const serverFinal = yield* say(b64bytes(Redacted.value(final.response)))
        assert.isTrue(unb64(serverFinal.slice(2)).startsWith("v="))
        // Sasl.step verifies the server signature before answering with an empty response.
        const verified = Result.getOrThrow(Sasl.step(final.state, Buffer.from(serverFinal.slice(2), "base64")))
        assert.isTrue(verified.done)
        return yield* say("")
      })).pipe(Effect.provide(MemoryTransport.layer(server.handler)))
      assert.strictEqual(outcome, "+OK Logged in.")
      const [session] = yield* server.awaitEnded(1)
      assert.strictEqual(session?.authentication, "SCRAM-SHA-256-PLUS")
    }))

  it.live("SCRAM-SHA-256-PLUS fails without TLS or with another channel's binding", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({
        users: { test: "secret" },
        mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
      })
      const { client } = yield* open(server)
      yield* client.readLine
      assert.strictEqual(yield* multi(client, "CAPA"), `${DOVECOT_BEFORE_TLS.replace("SASL\r\n", "SASL SCRAM-SHA-256\r\n")}`)
      assert.strictEqual(yield* command(client, "AUTH SCRAM-SHA-256-PLUS"), "-ERR Unsupported authentication mechanism.\r\n")
      yield* command(client, "STLS")
      yield* client.startTls(trusted)
      const initial = Result.getOrThrow(Sasl.start("SCRAM-SHA-256-PLUS", {
        credentials: Credentials.password({ username: "test", password: Redacted.make("secret") }),
        channelBinding: new Uint8Array(32).fill(7)
      }))
      const serverFirst = yield* command(client, `AUTH SCRAM-SHA-256-PLUS ${b64bytes(Redacted.value(initial.response!))}`)
      const final = Result.getOrThrow(Sasl.step(initial.state, Buffer.from(serverFirst.slice(2).trim(), "base64")))
      assert.strictEqual(yield* command(client, b64bytes(Redacted.value(final.response))), "-ERR [AUTH] Authentication failed.\r\n")
    }))

  it("the SASL server reproduces the RFC 7677 SCRAM-SHA-256 example", () => {
    const options: SaslServer.Options = {
      account: (name) => (name === "user" ? { password: "pencil" } : undefined),
      channelBinding: () => undefined,
      offered: ["SCRAM-SHA-256"],
      nonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
      salt: () => Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64")
    }
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")
    const first = SaslServer.start("SCRAM-SHA-256", Buffer.from("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), options)
    assert(first._tag === "Challenge")
    assert.strictEqual(
      text(first.data),
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    const done = first.respond(Buffer.from(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    ))
    assert(done._tag === "Success")
    assert.strictEqual(text(done.data ?? new Uint8Array()), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    const wrong = first.respond(Buffer.from(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    ))
    assert.deepStrictEqual(wrong, { _tag: "Failure", reason: "BadCredentials", username: "user" })
  })
})

describe("SASL server (internal/saslServer.ts, shared by the fake servers)", () => {
  const options: SaslServer.Options = {
    account: (name) => (name === "user" ? { password: "pencil", token: "tok" } : undefined),
    channelBinding: () => new Uint8Array(32).fill(1),
    offered: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
  }
  const bytes = (text: string) => new TextEncoder().encode(text)
  const credentials = Credentials.password({ username: "user", password: Redacted.make("pencil") })

  /** Runs core's SASL client against the server machine; returns the server's last step. */
  const converse = (mechanism: SaslServer.MechanismName, input: Sasl.Input): SaslServer.Step => {
    const initial = Result.getOrThrow(Sasl.start(mechanism, input))
    let state = initial.state
    let step = SaslServer.start(
      mechanism,
      initial.response === undefined ? undefined : Redacted.value(initial.response),
      options
    )
    while (step._tag === "Challenge") {
      const next = Result.getOrThrow(Sasl.step(state, step.data))
      state = next.state
      step = step.respond(Redacted.value(next.response))
    }
    if (step._tag === "Success") Result.getOrThrow(Sasl.finish(state, step.data))
    return step
  }

  it("core's client authenticates with every password mechanism; a wrong password fails", () => {
    const wrong = Credentials.password({ username: "user", password: Redacted.make("wrong") })
    for (const mechanism of ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"] as const) {
      const step = converse(mechanism, { credentials })
      assert(step._tag === "Success", mechanism)
      assert.strictEqual(step.username, "user")
      assert.strictEqual(step.data !== undefined, mechanism.startsWith("SCRAM"))
      assert.deepStrictEqual(converse(mechanism, { credentials: wrong }), {
        _tag: "Failure",
        reason: "BadCredentials",
        username: "user"
      })
    }
  })

  it("PLAIN refuses another authzid; LOGIN takes the username as initial response", () => {
    assert.deepStrictEqual(SaslServer.start("PLAIN", bytes("admin\0user\0pencil"), options), {
      _tag: "Failure",
      reason: "AuthzidRefused",
      username: "user"
    })
    const login = SaslServer.start("LOGIN", bytes("user"), options)
    assert(login._tag === "Challenge")
    assert.strictEqual(Buffer.from(login.data).toString(), "Password:")
    assert.strictEqual(login.respond(bytes("pencil"))._tag, "Success")
  })

  it("SCRAM channel binding: a 'y' flag while -PLUS is offered is a downgrade; -PLUS binds to the session", () => {
    const downgraded = SaslServer.start("SCRAM-SHA-256", bytes("y,,n=user,r=abc"), options)
    assert.deepStrictEqual(downgraded, { _tag: "Failure", reason: "ChannelBinding", username: "user" })
    const plus = converse("SCRAM-SHA-256-PLUS", { credentials, channelBinding: new Uint8Array(32).fill(1) })
    assert.strictEqual(plus._tag, "Success")
    const other = converse("SCRAM-SHA-256-PLUS", { credentials, channelBinding: new Uint8Array(32).fill(2) })
    assert.deepStrictEqual(other, { _tag: "Failure", reason: "ChannelBinding", username: "user" })
  })

  it("XOAUTH2 and OAUTHBEARER accept the configured token", () => {
    for (const mechanism of ["XOAUTH2", "OAUTHBEARER"] as const) {
      const good = converse(mechanism, { credentials: Credentials.bearer({ username: "user", token: Redacted.make("tok") }) })
      assert.deepStrictEqual(good, { _tag: "Success", username: "user", data: undefined })
      const bad = SaslServer.start(
        mechanism,
        bytes(mechanism === "XOAUTH2" ? "user=user\x01auth=Bearer nope\x01\x01" : "n,a=user,\x01auth=Bearer nope\x01\x01"),
        options
      )
      assert(bad._tag === "Challenge")
      assert.deepStrictEqual(bad.respond(bytes("\x01")), { _tag: "Failure", reason: "BadCredentials", username: "user" })
    }
  })

  it("decodes SASL lines: * cancels, = is an empty initial response, base64 is strict", () => {
    assert.deepStrictEqual(SaslServer.decodeResponse("*", false), { _tag: "Cancel" })
    assert.deepStrictEqual(SaslServer.decodeResponse("=", true), { _tag: "Data", bytes: new Uint8Array(0) })
    assert.deepStrictEqual(SaslServer.decodeResponse("=", false), { _tag: "Invalid" })
    assert.deepStrictEqual(SaslServer.decodeResponse("", false), { _tag: "Data", bytes: new Uint8Array(0) })
    assert.deepStrictEqual(SaslServer.decodeResponse("", true), { _tag: "Invalid" })
    assert.deepStrictEqual(SaslServer.decodeResponse("YWI=", false), { _tag: "Data", bytes: bytes("ab") })
    assert.deepStrictEqual(SaslServer.decodeResponse("YWI", false), { _tag: "Invalid" })
  })
})

const b64bytes = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")

/** Lines (without CRLF) from a core TransportConnection. */
const lineReader = (connection: { readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, unknown> }) => {
  let buffer = ""
  const next: Effect.Effect<string, unknown> = Effect.suspend(() => {
    const lf = buffer.indexOf("\r\n")
    if (lf !== -1) {
      const line = buffer.slice(0, lf)
      buffer = buffer.slice(lf + 2)
      return Effect.succeed(line)
    }
    return Effect.flatMap(connection.pull, (chunks) => {
      for (const chunk of chunks) buffer += Buffer.from(chunk).toString("latin1")
      return next
    })
  })
  return { next }
}

describe("Pop3Server: TRANSACTION", () => {
  it.live("LIST, UIDL, RETR (byte-exact, dot-stuffed), TOP, and errors", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client } = yield* loggedIn(server)
      const sizes = server.maildrop("test").map((m) => m.size)
      assert.deepStrictEqual(sizes, [28, 73, 32])
      assert.strictEqual(Buffer.from(server.maildrop("test")[2]!.bytes).toString(), "Subject: three\r\n\r\nbare LF body\r\n")
      assert.strictEqual(yield* multi(client, "LIST"), "+OK 3 messages:\r\n1 28\r\n2 73\r\n3 32\r\n.\r\n")
      assert.strictEqual(yield* command(client, "LIST 2"), "+OK 2 73\r\n")
      const uids = server.maildrop("test").map((m) => m.uid)
      assert.strictEqual(yield* multi(client, "UIDL"), `+OK\r\n1 ${uids[0]}\r\n2 ${uids[1]}\r\n3 ${uids[2]}\r\n.\r\n`)
      assert.strictEqual(yield* command(client, "UIDL 3"), `+OK 3 ${uids[2]}\r\n`)
      assert.strictEqual(
        yield* multi(client, "RETR 2"),
        "+OK 73 octets\r\nSubject: two\r\nX-A: b\r\n\r\n..starts with a dot\r\nmiddle\r\n...two dots\r\n..\r\nlast\r\n.\r\n"
      )
      assert.strictEqual(yield* multi(client, "TOP 2 0"), "+OK\r\nSubject: two\r\nX-A: b\r\n\r\n.\r\n")
      assert.strictEqual(yield* multi(client, "TOP 2 1"), "+OK\r\nSubject: two\r\nX-A: b\r\n\r\n..starts with a dot\r\n.\r\n")
      assert.strictEqual(yield* command(client, "RETR 4"), "-ERR There's no message 4.\r\n")
      assert.strictEqual(yield* command(client, "RETR 0"), "-ERR Invalid message number.\r\n")
      assert.strictEqual(yield* command(client, "RETR x"), "-ERR Invalid message number.\r\n")
      assert.strictEqual(yield* command(client, "RETR"), "-ERR Invalid arguments.\r\n")
      assert.strictEqual(yield* command(client, "LIST 1 2"), "-ERR Invalid arguments.\r\n")
      assert.strictEqual(yield* command(client, "TOP 1"), "-ERR Invalid arguments.\r\n")
      assert.strictEqual(yield* command(client, "FOO"), "-ERR Unknown command.\r\n")
      assert.strictEqual(yield* command(client, "NOOP"), "+OK\r\n")
    }))

  it.live("DELE marks, RSET unmarks, QUIT commits in UPDATE; a dropped session commits nothing", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const first = yield* loggedIn(server)
      const [one, two, three] = server.maildrop("test") as readonly [Pop3Server.Message, Pop3Server.Message, Pop3Server.Message]
      assert.strictEqual(yield* command(first.client, "DELE 1"), "+OK Marked to be deleted.\r\n")
      assert.strictEqual(yield* command(first.client, "DELE 1"), "-ERR Message is deleted.\r\n")
      assert.strictEqual(yield* command(first.client, "RETR 1"), "-ERR Message is deleted.\r\n")
      assert.strictEqual(yield* command(first.client, "STAT"), "+OK 2 105\r\n")
      assert.strictEqual(yield* multi(first.client, "LIST"), "+OK 2 messages:\r\n2 73\r\n3 32\r\n.\r\n")
      assert.strictEqual(yield* command(first.client, "RSET"), "+OK\r\n")
      assert.strictEqual(yield* command(first.client, "STAT"), "+OK 3 133\r\n")
      yield* command(first.client, "DELE 2")
      // Dropped without QUIT: RFC 1939 §6, nothing is removed and the lock is released.
      yield* first.client.destroy
      const dropped = yield* Fiber.join(first.fiber)
      assert.deepStrictEqual(dropped.end, { _tag: "ClientClosed" })
      assert.deepStrictEqual(dropped.removed, [])
      assert.deepStrictEqual(server.maildrop("test"), [one, two, three])
      assert.isFalse(server.isLocked("test"))

      const second = yield* loggedIn(server)
      yield* command(second.client, "DELE 1")
      yield* command(second.client, "DELE 3")
      const late = yield* server.deliver("test", "Subject: late\r\n\r\nx\r\n")
      yield* quit(second.client, "+OK Logging out, messages deleted.\r\n")
      const committed = yield* Fiber.join(second.fiber)
      assert.deepStrictEqual(committed.removed, [one, three])
      assert.deepStrictEqual(committed.maildropAfter, [two, late])
      assert.deepStrictEqual(dropped.maildropAfter, [one, two, three])
      // A message delivered during the session survives its UPDATE.
      assert.deepStrictEqual(server.maildrop("test"), [two, late])
      assert.deepStrictEqual(committed.commands.map((c) => c.state).slice(-1), ["Transaction"])
    }))

  it.live("pipelined STAT, LIST, RETR in one write are answered in order", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client } = yield* loggedIn(server)
      yield* client.write("STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nUIDL 1\r\nQUIT\r\n")
      const expected = "+OK 3 133\r\n" +
        "+OK 3 messages:\r\n1 28\r\n2 73\r\n3 32\r\n.\r\n" +
        "+OK 28 octets\r\nSubject: one\r\n\r\nfirst body\r\n.\r\n" +
        "+OK Marked to be deleted.\r\n" +
        "-ERR Message is deleted.\r\n" +
        "+OK Logging out, messages deleted.\r\n"
      let got = ""
      while (got.length < expected.length) got += yield* client.readLine
      assert.strictEqual(got, expected)
      yield* client.awaitClosed
      assert.strictEqual(server.maildrop("test").length, 2)
    }))

  it.live("a second session for the same user gets [IN-USE]; the lock is released at the end", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const first = yield* loggedIn(server)
      assert.isTrue(server.isLocked("test"))
      const second = yield* open(server)
      yield* upgrade(second.client)
      yield* command(second.client, "USER test")
      assert.strictEqual(
        yield* command(second.client, "PASS secret"),
        "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"
      )
      assert.strictEqual(yield* command(second.client, "STAT"), "-ERR Unknown command.\r\n")
      yield* quit(first.client)
      yield* Fiber.join(first.fiber)
      assert.isFalse(server.isLocked("test"))
      yield* command(second.client, "USER test")
      assert.strictEqual(yield* command(second.client, "PASS secret"), "+OK Logged in.\r\n")
      assert.deepStrictEqual(server.sessions().map((s) => [s.id, s.end._tag, s.user]), [
        [1, "Quit", "test"],
        [2, "Open", "test"]
      ])
    }))

  it.live("an over-long command line is refused and the connection closed; bare LF is not a command", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { client, fiber } = yield* open(server)
      yield* client.readLine
      yield* client.write("NOOP\n")
      assert.strictEqual(yield* client.readLine, "-ERR Invalid command line.\r\n")
      assert.strictEqual(yield* command(client, `USER ${"x".repeat(300)}`), "-ERR Input line too long.\r\n")
      yield* client.awaitClosed
      assert.deepStrictEqual((yield* Fiber.join(fiber)).end, { _tag: "LineTooLong" })
    }))
})

describe("Pop3Server: faults", () => {
  it.live("DropDuringRetr: status line and exactly N more bytes, then the connection is gone", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ faults: [{ _tag: "DropDuringRetr", afterBodyBytes: 20, message: 2 }] })
      const { client, fiber } = yield* loggedIn(server)
      assert.strictEqual(yield* multi(client, "RETR 1"), "+OK 28 octets\r\nSubject: one\r\n\r\nfirst body\r\n.\r\n")
      const before = client.received.length
      yield* client.write("DELE 1\r\nRETR 2\r\n")
      yield* client.awaitClosed
      const tail = client.received.slice(before).map((r) => r.text).join("")
      assert.strictEqual(tail, "+OK Marked to be deleted.\r\n+OK 73 octets\r\nSubject: two\r\nX-A: b")
      const session = yield* Fiber.join(fiber)
      assert.deepStrictEqual(session.end, { _tag: "Fault", fault: "DropDuringRetr" })
      assert.strictEqual(server.maildrop("test").length, 3)
    }))

  it.live("DropBeforeQuitReply: no +OK; deletions committed only when told to", () =>
    Effect.gen(function*() {
      for (const commit of [false, true]) {
        const server = yield* makeServer({ faults: [{ _tag: "DropBeforeQuitReply", commit }] })
        const { client, fiber } = yield* loggedIn(server)
        yield* command(client, "DELE 1")
        yield* client.write("QUIT\r\n")
        yield* client.awaitClosed
        assert.strictEqual(client.received.at(-1)?.text.includes("Logging out"), false)
        const session = yield* Fiber.join(fiber)
        assert.strictEqual(session.state, "Update")
        assert.strictEqual(server.maildrop("test").length, commit ? 2 : 3)
      }
    }))

  it.live("RawReply: STLS answered with injected lines in the same write, then TLS", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({
        faults: [{ _tag: "RawReply", command: "stls", bytes: "+OK Begin TLS\r\n+OK\r\nUSER\r\n.\r\n", then: "startTls" }]
      })
      const { client, fiber } = yield* open(server)
      yield* client.readLine
      const before = client.received.length
      yield* client.write("STLS\r\n")
      const chunks = yield* client.awaitChunks(before + 1)
      assert.strictEqual(chunks[before]?.text, "+OK Begin TLS\r\n+OK\r\nUSER\r\n.\r\n")
      for (const expected of ["+OK Begin TLS\r\n", "+OK\r\n", "USER\r\n", ".\r\n"]) {
        assert.strictEqual(yield* client.readLine, expected)
      }
      // The server really switched: a TLS client gets through.
      yield* client.startTls(trusted)
      assert.strictEqual(yield* multi(client, "CAPA"), DOVECOT_AFTER_TLS)
      yield* quit(client)
      assert.strictEqual((yield* Fiber.join(fiber)).recording.handshake?.protocol, "TLSv1.3")
    }), 10_000)

  it.live("RawReply in several writes: +OK alone, then plaintext injected before the handshake (A11)", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({
        faults: [{ _tag: "RawReply", command: "STLS", bytes: ["+OK Begin TLS\r\n", "+OK injected\r\n"], then: "startTls", pauseMs: 20 }]
      })
      const { client } = yield* open(server)
      yield* client.readLine
      const before = client.received.length
      yield* client.write("STLS\r\n")
      const chunks = (yield* client.awaitChunks(before + 2)).slice(before).map((c) => c.text)
      assert.deepStrictEqual(chunks, ["+OK Begin TLS\r\n", "+OK injected\r\n"])
    }))

  it.live("RawReply then startTls, the client's handshake fails: HandshakeFailed, and the server serves on", () =>
    Effect.gen(function*() {
      const split = ["+OK Begin TLS\r\n", "+OK injected\r\n"]
      const server = yield* makeServer({
        faults: [{ _tag: "RawReply", command: "STLS", bytes: split, then: "startTls", pauseMs: 20, times: 3 }]
      })
      const variants = [
        // The client starts TLS after the first line and reads the injected one as a TLS record.
        { options: trusted, after: undefined },
        // The client refuses the certificate (another CA) and sends an alert.
        { options: { ca: Certificates.selfSigned.cert, servername: "localhost" }, after: undefined },
        // Plaintext garbage right behind the ClientHello, while the server answers it.
        { options: trusted, after: "QUIT\r\n" }
      ]
      for (const variant of variants) {
        const { client, fiber } = yield* open(server)
        yield* client.readLine
        yield* client.write("STLS\r\n")
        yield* client.readLine
        const handshake = Effect.flip(client.startTls(variant.options))
        const error = variant.after === undefined
          ? yield* handshake
          : yield* Effect.andThen(Effect.forkChild(handshake), (f) => Effect.andThen(client.write(variant.after), Fiber.join(f)))
        assert.strictEqual(error.reason === "timeout" ? "timeout" : "failed", "failed")
        yield* client.destroy
        const session = yield* Fiber.join(fiber)
        assert.strictEqual(session.end._tag, "HandshakeFailed")
        assert.isUndefined(session.user)
      }
      // The fault is spent: the same server still does a clean STLS and login.
      const { client, fiber } = yield* open(server)
      yield* upgrade(client)
      assert.strictEqual(yield* command(client, "USER test"), "+OK\r\n")
      assert.strictEqual(yield* command(client, "PASS secret"), "+OK Logged in.\r\n")
      yield* quit(client)
      assert.strictEqual((yield* Fiber.join(fiber)).user, "test")
    }), 15_000)

  it.live("SplitTerminator: the final CRLF.CRLF arrives as '…\\r\\n.' and '\\r\\n' (node-pop3's hang)", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ security: "plaintext", faults: [{ _tag: "SplitTerminator", at: 3, command: "RETR" }] })
      const { client } = yield* open(server)
      yield* client.readLine
      yield* command(client, "USER test")
      yield* command(client, "PASS secret")
      const before = client.received.length
      yield* client.write("RETR 1\r\n")
      const chunks = (yield* client.awaitChunks(before + 2)).slice(before).map((c) => c.text)
      assert.deepStrictEqual(chunks, ["+OK 28 octets\r\nSubject: one\r\n\r\nfirst body\r\n.", "\r\n"])
    }))

  it.live("Delay holds the reply of one command; setFaults switches faults at run time", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ security: "plaintext" })
      const { client } = yield* open(server)
      yield* client.readLine
      server.setFaults([{ _tag: "Delay", millis: 150, command: "NOOP", times: 1 }])
      const start = yield* Clock.currentTimeMillis
      yield* client.write("NOOP\r\nCAPA\r\n")
      assert.strictEqual(yield* client.readLine, "-ERR Unknown command.\r\n")
      assert.isAtLeast((yield* Clock.currentTimeMillis) - start, 140)
      assert.strictEqual(yield* client.readLine, "+OK\r\n")
      yield* readBody(client)
      const again = yield* Clock.currentTimeMillis
      assert.strictEqual(yield* command(client, "NOOP"), "-ERR Unknown command.\r\n")
      assert.isBelow((yield* Clock.currentTimeMillis) - again, 140)
      assert.strictEqual(server.faults().length, 1)
    }))
})

describe("Pop3Server: big messages", () => {
  it.live("a 50 MB message is streamed in bounded chunks, byte-exact and dot-stuffed", () =>
    Effect.gen(function*() {
      // One 1 KiB block of ten lines, one of them starting with "."; the stuffed block is known.
      const line = (i: number) => `${i === 3 ? "." : "L"}${String(i).padStart(3, "0")}${"x".repeat(96)}\r\n`
      const block = Array.from({ length: 10 }, (_, i) => line(i)).join("") + "y".repeat(1024 - 1020 - 2) + "\r\n"
      const blocks = 50 * 1024
      const message = Buffer.alloc(block.length * blocks)
      for (let i = 0; i < blocks; i++) message.write(block, i * block.length, "latin1")
      const server = yield* Pop3Server.make({
        security: "plaintext",
        users: { big: { password: "p", messages: [message] } }
      })
      assert.strictEqual(server.maildrop("big")[0]?.bytes, message, "CRLF input is stored without a copy")
      const expected = createHash("sha256")
      expected.update(`+OK ${message.length} octets\r\n`)
      const stuffedBlock = block.replace("\n.", "\n..")
      for (let i = 0; i < blocks; i++) expected.update(stuffedBlock)
      expected.update(".\r\n")

      const [clientEnd, serverEnd] = duplexPair()
      yield* Effect.forkChild(server.handler(serverEnd))
      clientEnd.write("USER big\r\nPASS p\r\nRETR 1\r\n")
      const result = yield* Effect.callback<{ digest: string; total: number; largest: number }>((resume) => {
        const hash = createHash("sha256")
        let skipped = 0
        let preamble = ""
        let total = 0
        let largest = 0
        let tail = ""
        clientEnd.on("data", (chunk: Buffer) => {
          largest = Math.max(largest, chunk.length)
          let rest = chunk
          while (skipped < 3 && rest.length > 0) {
            // Skip greeting, USER and PASS replies (three lines).
            const lf = rest.indexOf(0x0a)
            if (lf === -1) {
              preamble += rest.toString("latin1")
              rest = rest.subarray(rest.length)
            } else {
              preamble += rest.subarray(0, lf + 1).toString("latin1")
              rest = rest.subarray(lf + 1)
              skipped++
            }
          }
          hash.update(rest)
          total += rest.length
          tail = (tail + rest.toString("latin1")).slice(-5)
          if (tail === "\r\n.\r\n") resume(Effect.succeed({ digest: hash.digest("hex"), total, largest }))
        })
      })
      assert.strictEqual(result.digest, expected.digest("hex"))
      assert.strictEqual(result.total, `+OK ${message.length} octets\r\n`.length + message.length + blocks + 3)
      assert.isAtMost(result.largest, 65536)
      clientEnd.destroy()
    }), 20_000)
})

describe("Pop3Server: model", () => {
  type Op =
    | { readonly _tag: "STAT" }
    | { readonly _tag: "LIST"; readonly n: number | undefined }
    | { readonly _tag: "UIDL"; readonly n: number }
    | { readonly _tag: "RETR"; readonly n: number }
    | { readonly _tag: "TOP"; readonly n: number; readonly lines: number }
    | { readonly _tag: "DELE"; readonly n: number }
    | { readonly _tag: "RSET" }
    | { readonly _tag: "NOOP" }

  const n = fc.integer({ min: 0, max: 5 })
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ _tag: "STAT" as const }),
    fc.option(n, { nil: undefined }).map((k) => ({ _tag: "LIST" as const, n: k })),
    n.map((k) => ({ _tag: "UIDL" as const, n: k })),
    n.map((k) => ({ _tag: "RETR" as const, n: k })),
    fc.tuple(n, fc.integer({ min: 0, max: 3 })).map(([k, lines]) => ({ _tag: "TOP" as const, n: k, lines })),
    n.map((k) => ({ _tag: "DELE" as const, n: k })),
    fc.constant({ _tag: "RSET" as const }),
    fc.constant({ _tag: "NOOP" as const })
  )
  const body = fc.array(fc.constantFrom("a", ".", "..x", "", "Subject: s", "b c"), { minLength: 0, maxLength: 4 })
    .map((lines) => `H: v\r\n\r\n${lines.map((l) => `${l}\r\n`).join("")}`)

  const stuff = (text: string) => text.split("\r\n").map((l) => (l.startsWith(".") ? `.${l}` : l)).join("\r\n")

  /** The reply the model expects (status line plus body for multi-line replies). */
  const expect = (messages: ReadonlyArray<string>, uids: ReadonlyArray<string>, deleted: Set<number>, o: Op) => {
    const live = messages.flatMap((m, i) => (deleted.has(i + 1) ? [] : [{ k: i + 1, m }]))
    const check = (k: number): string | undefined =>
      k === 0
        ? "-ERR Invalid message number.\r\n"
        : k > messages.length
        ? `-ERR There's no message ${k}.\r\n`
        : deleted.has(k)
        ? "-ERR Message is deleted.\r\n"
        : undefined
    switch (o._tag) {
      case "STAT":
        return `+OK ${live.length} ${live.reduce((s, x) => s + x.m.length, 0)}\r\n`
      case "NOOP":
        return "+OK\r\n"
      case "RSET":
        deleted.clear()
        return "+OK\r\n"
      case "LIST":
        if (o.n === undefined) {
          return `+OK ${live.length} messages:\r\n${live.map((x) => `${x.k} ${x.m.length}\r\n`).join("")}.\r\n`
        }
        return check(o.n) ?? `+OK ${o.n} ${messages[o.n - 1]!.length}\r\n`
      case "UIDL":
        return check(o.n) ?? `+OK ${o.n} ${uids[o.n - 1]}\r\n`
      case "RETR": {
        const m = messages[o.n - 1] ?? ""
        return check(o.n) ?? `+OK ${m.length} octets\r\n${stuff(m)}.\r\n`
      }
      case "TOP": {
        const m = messages[o.n - 1] ?? ""
        const blank = m.indexOf("\r\n\r\n") + 4
        const lines = m.slice(blank).split(/(?<=\r\n)/).filter((l) => l !== "").slice(0, o.lines).join("")
        return check(o.n) ?? `+OK\r\n${stuff(m.slice(0, blank) + lines)}.\r\n`
      }
      case "DELE": {
        const error = check(o.n)
        if (error !== undefined) return error
        deleted.add(o.n)
        return "+OK Marked to be deleted.\r\n"
      }
    }
  }

  const line = (o: Op) =>
    o._tag === "LIST"
      ? o.n === undefined ? "LIST" : `LIST ${o.n}`
      : o._tag === "TOP"
      ? `TOP ${o.n} ${o.lines}`
      : "n" in o
      ? `${o._tag} ${o.n}`
      : o._tag

  const scenario = (messages: ReadonlyArray<string>, ops: ReadonlyArray<Op>, quits: boolean) =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({ security: "plaintext", users: { u: { password: "p", messages } } })
      const uids = server.maildrop("u").map((m) => m.uid)
      const { client, fiber } = yield* open(server)
      yield* client.readLine
      yield* command(client, "USER u")
      assert.strictEqual(yield* command(client, "PASS p"), "+OK Logged in.\r\n")
      const deleted = new Set<number>()
      // Pipelined: every command in one write, then the replies in order.
      yield* client.write(ops.map((o) => `${line(o)}\r\n`).join(""))
      for (const o of ops) {
        const wanted = expect(messages, uids, deleted, o)
        let got = yield* client.readLine
        if (got.startsWith("+OK") && (o._tag === "RETR" || o._tag === "TOP" || (o._tag === "LIST" && o.n === undefined))) {
          got += yield* readBody(client)
        }
        assert.strictEqual(got, wanted, line(o))
      }
      if (quits) yield* command(client, "QUIT")
      else yield* client.destroy
      yield* Fiber.join(fiber)
      const left = messages.filter((_, i) => !(quits && deleted.has(i + 1)))
      assert.deepStrictEqual(server.maildrop("u").map((m) => Buffer.from(m.bytes).toString()), left)
    })

  it.live("random pipelined command sequences match a model, and only QUIT commits", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(body, { minLength: 0, maxLength: 4 }),
          fc.array(op, { minLength: 1, maxLength: 12 }),
          fc.boolean(),
          (messages, ops, quits) => Effect.runPromise(scenario(messages, ops, quits))
        ),
        { numRuns: 40 }
      )
    ))
})
