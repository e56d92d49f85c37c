/**
 * `Pop3Client.session` with a named mechanism: AUTH right after the TLS handshake, CAPA over TLS
 * only when something needs it (RFC 2449 §6.6 forbids sending AUTH together with CAPA before
 * PIPELINING was seen over TLS). Exact client bytes and turns, the default path next to it, and
 * S4: nothing learned before TLS is used, the post-TLS list asked later decides.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Certificates from "@starttls/testkit/Certificates"
import { errorOf, reasonOf } from "@starttls/testkit/Failures"
import * as LoopbackServer from "@starttls/testkit/LoopbackServer"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { performance } from "node:perf_hooks"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as H from "./ClientHarness.ts"

const SECRET = "n4med-Pa55"
const credentials = Credentials.password({ username: "test", password: Redacted.make(SECRET) })
const AUTH_PLAIN = `AUTH PLAIN ${Buffer.from(`\0test\0${SECRET}`).toString("base64")}`
const PLAIN = { mechanisms: ["PLAIN"] }

const named = Pop3Client.session({ ...H.options, credentials, authenticate: PLAIN })

/** Greeting, STLS, TLS, then AUTH PLAIN at once. */
const NAMED = `
  S: +OK POP3 ready <9.9@example.org>
  C: STLS
  S: +OK Begin TLS negotiation now.
  -- starttls
  C: ${AUTH_PLAIN}
  S: +OK Logged in.
`


const noSecretInPlaintext = (recording: Recording.Recording) => {
  assert.strictEqual(Recording.plaintextClientBytes(recording), "STLS\r\n")
  assert.deepStrictEqual(Recording.findSecretsInPlaintext(recording, [SECRET]), [])
}

describe("Pop3Client.session with a named mechanism", () => {
  it.live("PLAIN: STLS after the greeting, AUTH PLAIN right after the handshake, no CAPA before it", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        NAMED,
        Effect.map(named, (c) => ({ state: c.state, capabilities: c.session.capabilities }))
      )
      assert.deepStrictEqual(H.value(exit), { state: "Authenticated", capabilities: undefined })
      assert.deepStrictEqual(H.tlsChunks(recording), [`${AUTH_PLAIN}\r\n`])
      noSecretInPlaintext(recording)
    }))

  it.live("capabilities() asks CAPA over TLS in TRANSACTION, once, and returns that list", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        `${NAMED}
        C: CAPA
        S: +OK
        S+ TOP
        S+ UIDL
        S+ PIPELINING
        S+ .`,
        Effect.flatMap(named, (c) =>
          Effect.gen(function*() {
            const first = yield* Pop3Client.capabilities(c)
            const again = yield* Pop3Client.capabilities(c)
            return { pipelining: first.pipelining, user: first.user, top: first.top, same: first === again }
          }))
      )
      assert.deepStrictEqual(H.value(exit), { pipelining: true, user: false, top: true, same: true })
      assert.deepStrictEqual(H.tlsChunks(recording), [`${AUTH_PLAIN}\r\n`, "CAPA\r\n"])
    }))

  it.live("the default path is unchanged: CAPA over TLS, then AUTH (no mechanism named, LOGIN, or opted out)", () =>
    Effect.gen(function*() {
      const b64 = (s: string) => Buffer.from(s).toString("base64")
      const cases = [
        [undefined, AUTH_PLAIN, ["+OK Logged in."]],
        [{ mechanisms: ["PLAIN"], withoutCapabilities: false }, AUTH_PLAIN, ["+OK Logged in."]],
        // Named, but not independent of the server's list: CAPA first as always.
        [{ mechanisms: ["LOGIN"] }, "AUTH LOGIN", [`+ ${b64("Username:")}`, `+ ${b64("Password:")}`, "+OK Logged in."]]
      ] as const
      for (const [authenticate, auth, replies] of cases) {
        const answers = replies.length === 1
          ? `S: ${replies[0]}`
          : `S: ${replies[0]}\nC: ${b64("test")}\nS: ${replies[1]}\nC: ${b64(SECRET)}\nS: ${replies[2]}`
        const { exit, recording } = yield* H.against(
          `${H.stls(["USER", "SASL PLAIN LOGIN"])}
          C: ${auth}
          ${answers}`,
          Effect.map(
            Pop3Client.session({ ...H.options, credentials, ...(authenticate === undefined ? {} : { authenticate }) }),
            (c) => c.state
          )
        )
        assert.strictEqual(H.value(exit), "Authenticated")
        assert.deepStrictEqual(H.tlsChunks(recording).slice(0, 2), ["CAPA\r\n", `${auth}\r\n`])
      }
    }))

  it.live("XOAUTH2 with a token too long for an AUTH line: AUTH XOAUTH2 alone, the token after '+ '", () =>
    Effect.gen(function*() {
      const token = "y".repeat(300)
      const ir = Buffer.from(`user=test\x01auth=Bearer ${token}\x01\x01`).toString("base64")
      const { exit, recording } = yield* H.against(
        `
        S: +OK ready
        C: STLS
        S: +OK go
        -- starttls
        C: AUTH XOAUTH2
        S: +
        C: ${ir}
        S: +OK Logged in.
        `,
        Effect.map(
          Pop3Client.session({
            ...H.options,
            credentials: Credentials.oauth2({ username: "test", token: Redacted.make(token) }),
            authenticate: { mechanisms: ["XOAUTH2"] }
          }),
          (c) => c.state
        )
      )
      assert.strictEqual(H.value(exit), "Authenticated")
      assert.deepStrictEqual(H.tlsChunks(recording), ["AUTH XOAUTH2\r\n", `${ir}\r\n`])
      assert.notInclude(Recording.plaintextClientBytes(recording), token)
    }))

  it.live("a mechanism the server refuses: -ERR → AuthenticationFailed, no USER/PASS fallback", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        `
        S: +OK ready
        C: STLS
        S: +OK go
        -- starttls
        C: ${AUTH_PLAIN}
        S: -ERR Unsupported authentication mechanism.
        `,
        named
      )
      const reason = reasonOf(exit)
      assert.deepStrictEqual(
        reason._tag === "AuthenticationFailed" ? [reason.mechanism, reason.untrustedReply] : reason._tag,
        ["PLAIN", "Unsupported authentication mechanism."]
      )
      assert.deepStrictEqual(H.tlsChunks(recording), [`${AUTH_PLAIN}\r\n`])
      noSecretInPlaintext(recording)
    }))

  it.live("S1: STLS refused → StartTlsRejected, nothing but STLS written", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against("S: +OK ready\nC: STLS\nS: -ERR [SYS/TEMP] not now", named)
      assert.strictEqual(reasonOf(exit)._tag, "StartTlsRejected")
      assert.strictEqual(Recording.plaintextClientBytes(recording), "STLS\r\n")
      assert.strictEqual(Recording.tlsClientBytes(recording), "")
    }))

  it.live("implicit TLS (995): AUTH right after the greeting", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        `
        -- implicit-tls localhost
        S: +OK ready
        C: ${AUTH_PLAIN}
        S: +OK Logged in.
        `,
        Effect.map(Pop3Client.session({ ...H.tlsOptions, credentials, authenticate: PLAIN }), (c) => c.state)
      )
      assert.strictEqual(H.value(exit), "Authenticated")
      assert.deepStrictEqual(H.tlsChunks(recording), [`${AUTH_PLAIN}\r\n`])
    }))
})

describe("S4 on the named path: nothing learned before TLS is used", () => {
  // The plaintext CAPA says PIPELINING, USER and SASL PLAIN; only the list asked over TLS counts.
  const PLAINTEXT_CAPA = `
    S: +OK ready
    C: CAPA
    S: +OK
    S+ STLS
    S+ USER
    S+ PIPELINING
    S+ SASL PLAIN
    S+ .
    C: STLS
    S: +OK go
    -- starttls
    C: ${AUTH_PLAIN}
    S: +OK Logged in.
  `
  const loggedIn = Effect.gen(function*() {
    const plain = yield* Pop3Client.connect(H.options)
    const before = yield* Pop3Client.queryCapabilities(plain)
    assert.isTrue(before.pipelining && before.user)
    const secure = yield* Pop3Client.startTls(plain, { deferCapabilities: true })
    assert.isUndefined(secure.session.capabilities)
    assert.isUndefined(secure.session.plaintextCapabilities)
    return yield* Pop3Client.authenticate(secure, credentials, { ...PLAIN, withoutCapabilities: true })
  })
  const retrieveTwo = (c: Pop3Client.Pop3Connection<"Authenticated">) =>
    Effect.gen(function*() {
      const messages = yield* Stream.runCollect(Pop3Client.retrieveAll(c, [1, 2]))
      const caps = yield* Pop3Client.capabilities(c)
      return { bodies: messages.map((m) => H.text(m.bytes)), pipelining: caps.pipelining, user: caps.user }
    })
  const answer = (body: string) => `S: +OK\nS+ ${body}\nS+ .`

  it.live("plaintext PIPELINING is ignored: the TLS CAPA (asked before the flight) lacks it, RETRs go one by one", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        `${PLAINTEXT_CAPA}
        C: CAPA
        S: +OK
        S+ TOP
        S+ SASL PLAIN
        S+ .
        C: RETR 1
        ${answer("one")}
        C: RETR 2
        ${answer("two")}`,
        Effect.flatMap(loggedIn, retrieveTwo)
      )
      assert.deepStrictEqual(H.value(exit), { bodies: ["one\r\n", "two\r\n"], pipelining: false, user: false })
      assert.deepStrictEqual(H.tlsChunks(recording), [`${AUTH_PLAIN}\r\n`, "CAPA\r\n", "RETR 1\r\n", "RETR 2\r\n"])
    }))

  it.live("PIPELINING advertised over TLS: the RETRs go in one write after the CAPA", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        `${PLAINTEXT_CAPA}
        C: CAPA
        S: +OK
        S+ PIPELINING
        S+ .
        C: RETR 1
        C: RETR 2
        ${answer("one")}
        ${answer("two")}`,
        Effect.flatMap(loggedIn, retrieveTwo)
      )
      assert.deepStrictEqual(H.value(exit), { bodies: ["one\r\n", "two\r\n"], pipelining: true, user: false })
      assert.deepStrictEqual(H.tlsChunks(recording), [`${AUTH_PLAIN}\r\n`, "CAPA\r\n", "RETR 1\r\nRETR 2\r\n"])
    }))

  it.live("A32 variant: the TLS CAPA asked later answers -ERR → CapabilitiesUnavailable, never the plaintext list", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.against(
        `${PLAINTEXT_CAPA}
        C: CAPA
        S: -ERR no`,
        Effect.flatMap(loggedIn, (c) => Stream.runCollect(Pop3Client.retrieveAll(c, [1, 2])))
      )
      assert.strictEqual(errorOf(exit).reason._tag, "CapabilitiesUnavailable")
    }))
})

describe("against the in-memory server", () => {
  it.live("named PLAIN end to end: the server sees STLS, AUTH, then CAPA in TRANSACTION before the pipelined RETRs", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({ users: { test: { password: SECRET, messages: ["a\r\n", "b\r\n"] } } })
      const bodies = yield* Effect.flatMap(named, (c) =>
        Effect.gen(function*() {
          const messages = yield* Stream.runCollect(Pop3Client.retrieveAll(c, [1, 2]))
          yield* Pop3Client.quit(c)
          return messages.map((m) => H.text(m.bytes))
        })).pipe(Effect.scoped, Effect.provide(H.serving(server)))
      assert.deepStrictEqual(bodies, ["a\r\n", "b\r\n"])
      const [ended] = yield* server.awaitEnded(1)
      assert.strictEqual(ended!.authentication, "PLAIN")
      assert.deepStrictEqual(
        ended!.commands.map((c) => c.line.split(" ")[0]),
        ["STLS", "AUTH", "CAPA", "RETR", "RETR", "QUIT"]
      )
      noSecretInPlaintext(ended!.recording)
    }))

  it.live("client turns through a delaying proxy: 3 with the named mechanism, 4 by default", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make({ users: { test: SECRET } })
      const loopback = yield* LoopbackServer.make(server.handler)
      const turns = (authenticate: typeof PLAIN | undefined) =>
        Effect.gen(function*() {
          const proxy = yield* Proxy.start({ targetPort: loopback.port, delayMs: 10 })
          const t0 = performance.now()
          yield* Pop3Client.session({
            host: "localhost",
            port: proxy.port,
            tls: { trustOnly: [Certificates.ca.cert] },
            credentials,
            ...(authenticate === undefined ? {} : { authenticate })
          })
          const ms = performance.now() - t0
          yield* Effect.sleep(30)
          return Proxy.clientTurns(proxy.sessions[0]!, ms)
        }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
      assert.deepStrictEqual([yield* turns(PLAIN), yield* turns(undefined)], [3, 4])
    }).pipe(Effect.scoped), 20_000)
})
