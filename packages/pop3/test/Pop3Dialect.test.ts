/**
 * The POP3 negotiation through core's engine with `Pop3Dialect`: greeting, CAPA, STLS, CAPA again
 * over TLS, and the STARTTLS attacks of ATTACKS.md in their POP3 form (A19, A24, A25, A26, A28, A29,
 * A31, A32) with the cross-cutting invariants of §3.6. Exact client bytes come from the scripted
 * server's recording.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as MailError from "@starttls/core/MailError"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import { errorOf, reasonOf } from "@starttls/testkit/Failures"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Pop3Dialect from "../src/Pop3Dialect.ts"
import * as H from "./ClientHarness.ts"

const SECRET = "s3cret-Pa55"
const credentials = Credentials.password({ username: "test", password: Redacted.make(SECRET) })
const AUTH_PLAIN = `AUTH PLAIN ${Buffer.from(`\0test\0${SECRET}`).toString("base64")}`

/** Lines a client must never send before TLS without the dangerous policy (ATTACKS.md "no-cred"). */
const CREDENTIAL_COMMANDS = /^(USER|PASS|APOP|AUTH)\b/im

/** §3.6 invariant 1: no credential-bearing command and no secret in plaintext. */
const assertNoCredentials = (recording: Recording.Recording) => {
  const plain = Recording.plaintextClientBytes(recording)
  assert.notMatch(plain, CREDENTIAL_COMMANDS)
  assert.deepStrictEqual(Recording.findSecretsInPlaintext(recording, [SECRET]), [])
}

const against = H.against

const session = Pop3Client.session({ ...H.options, credentials })

/** CAPA in plaintext (the answer kept apart), STLS anyway, then SASL with the post-TLS list. */
const capaStlsAuth = Effect.gen(function*() {
  const plain = yield* Pop3Client.connect(H.options)
  yield* Pop3Client.queryCapabilities(plain)
  const secure = yield* Pop3Client.startTls(plain)
  return yield* Pop3Client.authenticate(secure, credentials)
})

describe("greeting", () => {
  it.live("+OK greeting, STLS, CAPA over TLS, AUTH PLAIN with initial response: exact bytes", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK POP3 ready <1896.697170952@dbc.mtview.ca.us>
        C: STLS
        S: +OK Begin TLS negotiation now.
        -- starttls
        C: CAPA
        S: +OK
        S+ TOP
        S+ UIDL
        S+ USER
        S+ SASL PLAIN LOGIN
        S+ .
        C: ${AUTH_PLAIN}
        S: +OK Logged in.
        `,
        Effect.map(session, (c) => ({ state: c.state, caps: c.session.capabilities, plain: c.session.plaintextCapabilities }))
      )
      assert.strictEqual(exit._tag, "Success")
      if (exit._tag === "Success") {
        assert.strictEqual(exit.value.state, "Authenticated")
        assert.deepStrictEqual(exit.value.caps?.sasl, ["PLAIN", "LOGIN"])
        assert.isUndefined(exit.value.plain)
      }
      assert.strictEqual(Recording.plaintextClientBytes(recording), "STLS\r\n")
      assert.strictEqual(Recording.tlsClientBytes(recording), `CAPA\r\n${AUTH_PLAIN}\r\n`)
      assertNoCredentials(recording)
    }))

  it.live("the APOP timestamp of the greeting is recorded (RFC 1939 §7 example digest)", () =>
    Effect.gen(function*() {
      const { exit } = yield* against(
        `
        S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
        C: STLS
        S: +OK go
        -- starttls
        C: CAPA
        S: +OK
        S+ .
        C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
        S: +OK maildrop has 1 message (369 octets)
        `,
        Effect.gen(function*() {
          const secure = yield* Pop3Client.secure(H.options)
          assert.strictEqual(Pop3Dialect.state(secure.session)?.timestamp(), "<1896.697170952@dbc.mtview.ca.us>")
          return yield* Pop3Client.apop(secure, Credentials.password({ username: "mrose", password: Redacted.make("tanstaaf") }))
        })
      )
      assert.strictEqual(exit._tag, "Success")
    }))

  it.live("-ERR greeting → GreetingRejected, text only as untrusted, nothing written", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: -ERR [SYS/PERM] Call 555-0100 to restore your account
        `,
        session
      )
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "GreetingRejected")
      if (reason._tag === "GreetingRejected") {
        assert.strictEqual(reason.untrustedText, "[SYS/PERM] Call 555-0100 to restore your account")
        assert.notInclude(reason.message, "555-0100")
      }
      assert.strictEqual(recording.chunks.length, 0)
    }))

  it.live("a greeting that is not a status line is a ProtocolViolation", () =>
    Effect.gen(function*() {
      const { exit } = yield* against("S: * OK IMAP4rev1 ready", session)
      assert.strictEqual(reasonOf(exit)._tag, "ProtocolViolation")
    }))
})

describe("capabilities", () => {
  it.live("CAPA before STLS (untrusted, kept apart) and after it (trusted): Dovecot's exact lines", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK Dovecot (Debian) ready.
        C: CAPA
        S: +OK
        S+ TOP
        S+ UIDL
        S+ RESP-CODES
        S+ PIPELINING
        S+ AUTH-RESP-CODE
        S+ STLS
        S+ SASL
        S+ .
        C: STLS
        S: +OK Begin TLS negotiation now.
        -- starttls
        C: CAPA
        S: +OK
        S+ TOP
        S+ UIDL
        S+ RESP-CODES
        S+ PIPELINING
        S+ AUTH-RESP-CODE
        S+ USER
        S+ SASL PLAIN LOGIN
        S+ .
        `,
        Effect.gen(function*() {
          const plain = yield* Pop3Client.connect(H.options)
          const before = yield* Pop3Client.queryCapabilities(plain)
          const secure = yield* Pop3Client.startTls(plain)
          const after = yield* Pop3Client.capabilities(secure)
          return { before, after, plainAfter: secure.session.plaintextCapabilities }
        })
      )
      assert.strictEqual(exit._tag, "Success")
      if (exit._tag === "Success") {
        const { after, before, plainAfter } = exit.value
        assert.isTrue(before.stls)
        assert.isFalse(before.user)
        assert.deepStrictEqual(before.sasl, [])
        assert.isFalse(after.stls)
        assert.isTrue(after.user)
        assert.isTrue(after.pipelining)
        assert.deepStrictEqual(after.sasl, ["PLAIN", "LOGIN"])
        // S4: the plaintext set is forgotten at the upgrade.
        assert.isUndefined(plainAfter)
      }
      assert.deepStrictEqual(
        recording.chunks.map((c) => `${c.phase}:${H.text(c.bytes)}`),
        ["plain:CAPA\r\n", "plain:STLS\r\n", "tls:CAPA\r\n"]
      )
    }))

  it.live("STLS is sent under require-TLS even when CAPA failed (CAPA -ERR is not a reason to stop)", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK ready
        C: CAPA
        S: -ERR bad command
        C: STLS
        S: +OK go
        -- starttls
        C: CAPA
        S: +OK
        S+ SASL PLAIN
        S+ .
        `,
        Effect.gen(function*() {
          const plain = yield* Pop3Client.connect(H.options)
          const capa = yield* Effect.exit(Pop3Client.queryCapabilities(plain))
          assert.strictEqual(reasonOf(capa)._tag, "CapabilitiesUnavailable")
          return yield* Pop3Client.startTls(plain)
        })
      )
      assert.strictEqual(exit._tag, "Success")
      assert.strictEqual(Recording.plaintextClientBytes(recording), "CAPA\r\nSTLS\r\n")
    }))

  it.live("a CAPA answer over maxReplyLines lines is LimitExceeded", () =>
    Effect.gen(function*() {
      const lines = Array.from({ length: 12 }, (_, i) => `S+ X-CAP-${i}`).join("\n")
      const { exit } = yield* against(
        `
        ${H.stls([], { open: true })}
        ${lines}
        S+ .
        `,
        Pop3Client.secure({ ...H.options, limits: { maxReplyLines: 10 } })
      )
      const reason = reasonOf(exit)
      // The engine reports any failure of the post-TLS re-query as CapabilitiesUnavailable (S4).
      assert.strictEqual(reason._tag, "CapabilitiesUnavailable")
      if (reason._tag === "CapabilitiesUnavailable") assert.include(reason.detail, "maxReplyLines")
    }))
})

describe("A29: STLS stripped or refused (POP3)", () => {
  const stripped = `
    S: +OK POP3 server ready.
    C: CAPA
    S: +OK list of capabilities
    S+ TOP
    S+ USER
    S+ SASL CRAM-MD5 KERBEROS_V4
    S+ RESP-CODES
    S+ LOGIN-DELAY 900
    S+ PIPELINING
    S+ EXPIRE 60
    S+ UIDL
    S+ IMPLEMENTATION fake_mail_server
    S+ .
    C: STLS
    S: -ERR STARTTLS not supported.
  `

  it.live("CAPA without STLS, STLS sent anyway and refused → StartTlsRejected, no credential", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        stripped,
        Effect.gen(function*() {
          const plain = yield* Pop3Client.connect(H.options)
          const caps = yield* Pop3Client.queryCapabilities(plain)
          assert.isFalse(caps.stls)
          const secure = yield* Pop3Client.startTls(plain)
          return yield* Pop3Client.authenticate(secure, credentials)
        })
      )
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "StartTlsRejected")
      assert.strictEqual(Recording.plaintextClientBytes(recording), "CAPA\r\nSTLS\r\n")
      assertNoCredentials(recording)
    }))

  for (
    const [name, reply, untrusted] of [
      ["STLS listed but refused", "-ERR not now", "not now"],
      ["[SYS/PERM] refusal", "-ERR [SYS/PERM] perm alert", "[SYS/PERM] perm alert"],
      ["unknown command", "-ERR unknown command", "unknown command"]
    ] as const
  ) {
    it.live(`${name} → StartTlsRejected (code untrusted, retryable), only STLS written`, () =>
      Effect.gen(function*() {
        const { exit, recording } = yield* against(
          `
          S: +OK POP3 server ready.
          C: STLS
          S: ${reply}
          `,
          session
        )
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag, "StartTlsRejected")
        if (reason._tag === "StartTlsRejected") {
          assert.strictEqual(reason.untrustedReply, untrusted)
          // A plaintext [SYS/PERM] must not mark anything permanent (A29).
          assert.isTrue(reason.retryable)
          assert.isUndefined(reason.code)
          assert.notInclude(reason.message, "perm alert")
        }
        assert.strictEqual(Recording.plaintextClientBytes(recording), "STLS\r\n")
        assert.strictEqual(Recording.tlsClientBytes(recording), "")
        assertNoCredentials(recording)
      }))
  }

  it.live("a SASL continuation in answer to STLS is a ProtocolViolation", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK ready
        C: STLS
        S: + go ahead
        `,
        session
      )
      assert.strictEqual(reasonOf(exit)._tag, "ProtocolViolation")
      assertNoCredentials(recording)
    }))
})

describe("A31: response injection after STLS's +OK (POP3)", () => {
  for (
    const [name, injected, bytes] of [
      ["pre-answered AUTH listing", "S+ +OK\nS+ PLAIN\nS+ LOGIN\nS+ .", "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n".length],
      ["pre-answered CAPA", "S+ +OK\nS+ USER\nS+ SASL PLAIN\nS+ .", "+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n".length],
      ["non-ASCII garbage without CRLF", "-- inject \\xc2\\xb9\\xc2\\xb3\\xc2\\xb2", 6]
    ] as const
  ) {
    it.live(`${name} in the same write → StartTlsInjection before the handshake`, () =>
      Effect.gen(function*() {
        const { exit, recording } = yield* against(
          `
          S: +OK POP3 ready
          C: STLS
          S: +OK Begin fake TLS negotiation now.
          ${injected}
          `,
          session
        )
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag, "StartTlsInjection")
        if (reason._tag === "StartTlsInjection") assert.strictEqual(reason.pendingBytes, bytes)
        // The residue never reached the TLS engine: no handshake was attempted.
        assert.isUndefined(recording.handshake)
        assert.strictEqual(Recording.plaintextClientBytes(recording), "STLS\r\n")
        assertNoCredentials(recording)
      }))
  }

  it.live("A11: plaintext written after the +OK, before the handshake, breaks TLS (TlsFailure NotTls)", () =>
    Effect.gen(function*() {
      // "startTls": the server also switches (its handshake then fails with the client's).
      for (const then of ["continue", "startTls"] as const) {
        const server = yield* Pop3Server.make({
          faults: [{ _tag: "RawReply", command: "STLS", bytes: ["+OK Begin TLS\r\n", "+OK\r\nUSER\r\n.\r\n"], then, pauseMs: 30 }]
        })
        const exit = yield* Effect.exit(Effect.scoped(session).pipe(Effect.provide(H.serving(server))))
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, "NotTls")
        const [ended] = yield* server.awaitEnded(1)
        if (then === "startTls") assert.strictEqual(ended!.end._tag, "HandshakeFailed")
        assertNoCredentials(ended!.recording)
      }
    }))
})

describe("A32: capabilities cached across STLS (POP3)", () => {
  const config: Pop3Server.Config = {
    users: { test: SECRET },
    mechanisms: ["SCRAM-SHA-256", "PLAIN", "LOGIN"],
    capabilities: { beforeTls: ["STLS", "USER", "SASL PLAIN LOGIN"], afterTls: ["SASL SCRAM-SHA-256"] }
  }

  it.live("CAPA is asked again over TLS and only its list is used: SCRAM-SHA-256, never USER/PLAIN", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make(config)
      const result = yield* Effect.gen(function*() {
        const plain = yield* Pop3Client.connect(H.options)
        const before = yield* Pop3Client.queryCapabilities(plain)
        assert.deepStrictEqual(before.sasl, ["PLAIN", "LOGIN"])
        const secure = yield* Pop3Client.startTls(plain)
        const userPass = yield* Effect.exit(Pop3Client.login(secure, credentials))
        const authed = yield* Pop3Client.authenticate(secure, credentials)
        return { userPass, authed }
      }).pipe(Effect.scoped, Effect.provide(H.serving(server)))
      assert.strictEqual(reasonOf(result.userPass)._tag, "NoUsableMechanism")
      assert.strictEqual(result.authed.state, "Authenticated")
      const [ended] = yield* server.awaitEnded(1)
      assert.strictEqual(ended!.authentication, "SCRAM-SHA-256")
      assert.deepStrictEqual(ended!.commands.map((c) => c.line.split(" ")[0]).slice(0, 4), ["CAPA", "STLS", "CAPA", "AUTH"])
      assert.notInclude(Recording.tlsClientBytes(ended!.recording), "USER")
      assertNoCredentials(ended!.recording)
    }))

  it.live("restricted to PLAIN while TLS offers only SCRAM → NoUsableMechanism, nothing sent", () =>
    Effect.gen(function*() {
      const server = yield* Pop3Server.make(config)
      // CAPA first: not the named-mechanism path (Pop3Client.fast.test.ts has that one).
      const restricted = { mechanisms: ["PLAIN"], withoutCapabilities: false }
      const exit = yield* Effect.exit(
        Pop3Client.session({ ...H.options, credentials, authenticate: restricted }).pipe(
          Effect.scoped,
          Effect.provide(H.serving(server))
        )
      )
      assert.strictEqual(reasonOf(exit)._tag, "NoUsableMechanism")
      const [ended] = yield* server.awaitEnded(1)
      assert.deepStrictEqual(ended!.commands.map((c) => c.line), ["STLS", "CAPA"])
    }))

  it.live("post-TLS CAPA → -ERR: CapabilitiesUnavailable, the plaintext list is never reused", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK ready
        C: CAPA
        S: +OK
        S+ STLS
        S+ USER
        S+ SASL PLAIN LOGIN
        S+ .
        C: STLS
        S: +OK go
        -- starttls
        C: CAPA
        S: -ERR
        `,
        capaStlsAuth
      )
      assert.strictEqual(reasonOf(exit)._tag, "CapabilitiesUnavailable")
      assert.strictEqual(Recording.tlsClientBytes(recording), "CAPA\r\n")
    }))
})

describe("A19: nothing after STLS until the handshake is done", () => {
  it.live("a delayed +OK: STLS alone in its write, zero bytes before the ClientHello", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK ready
        C: CAPA
        S: +OK
        S+ PIPELINING
        S+ STLS
        S+ .
        C: STLS
        -- delay 250
        S: +OK go
        -- starttls
        C: CAPA
        S: +OK
        S+ SASL PLAIN
        S+ .
        C: ${AUTH_PLAIN}
        S: +OK
        `,
        capaStlsAuth
      )
      assert.strictEqual(exit._tag, "Success")
      assert.strictEqual(recording.sentBeforeHandshake.length, 0)
      // PIPELINING was advertised, yet STLS went out alone.
      assert.deepStrictEqual(
        recording.chunks.filter((c) => c.phase === "plain").map((c) => H.text(c.bytes)),
        ["CAPA\r\n", "STLS\r\n"]
      )
    }))
})

describe("A24: hostile sizes and bytes", () => {
  it.live("a first line of 1 MiB + 1 without LF → LimitExceeded maxLineLength, nothing written", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(`-- inject +OK ${"x".repeat(1024 * 1024)}`, session)
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "LimitExceeded")
      if (reason._tag === "LimitExceeded") assert.strictEqual(reason.limit, "maxLineLength")
      assert.strictEqual(recording.chunks.length, 0)
    }))

  it.live("a greeting with NUL and 0xFF bytes is only text: no crash, STLS, no credential", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK \\x00\\xff ready
        C: STLS
        S: -ERR no
        `,
        session
      )
      assert.strictEqual(reasonOf(exit)._tag, "StartTlsRejected")
      assertNoCredentials(recording)
    }))

  it.live("an endless CAPA answer over TLS → LimitExceeded maxResponseBytes (bounded buffer)", () =>
    Effect.gen(function*() {
      const lines = Array.from({ length: 200 }, (_, i) => `S+ X-PADDING-CAPABILITY-NUMBER-${i}`).join("\n")
      const { exit } = yield* against(
        `
        ${H.stls([], { open: true })}
        ${lines}
        `,
        Pop3Client.secure({ ...H.options, limits: { maxResponseBytes: 2048 } })
      )
      const reason = reasonOf(exit)
      assert.deepStrictEqual(reason._tag === "LimitExceeded" ? reason.limit : reason._tag, "maxResponseBytes")
    }))
})

describe("A25: certificate validation (STLS and implicit TLS)", () => {
  for (
    const [profile, kind] of [
      ["self-signed", "CertificateUntrusted"],
      ["wrong-name", "HostnameMismatch"],
      ["expired", "CertificateExpired"]
    ] as const
  ) {
    it.live(`STLS with a ${profile} certificate → TlsFailure ${kind}, no credential, no fallback`, () =>
      Effect.gen(function*() {
        const { exit, recording } = yield* against(
          `
          S: +OK ready
          C: STLS
          S: +OK go
          -- starttls ${profile}
          `,
          session
        )
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, kind)
        assert.strictEqual(Recording.tlsClientBytes(recording), "")
        assertNoCredentials(recording)
      }))

    it.live(`POP3S with a ${profile} certificate → TlsFailure ${kind}`, () =>
      Effect.gen(function*() {
        const { exit, recording } = yield* against(
          `
          -- implicit-tls ${profile}
          S: +OK ready
          `,
          Pop3Client.session({ ...H.tlsOptions, credentials })
        )
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, kind)
        assert.strictEqual(recording.chunks.length, 0)
      }))
  }
})

describe("A26: implicit TLS (POP3S)", () => {
  it.live("(a) plaintext where a ServerHello was expected → SecurityModeMismatch, never read as plaintext", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        "S: +OK POP3 ready",
        Pop3Client.session({ ...H.tlsOptions, credentials }),
        true
      )
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "SecurityModeMismatch")
      assertNoCredentials(recording)
    }))

  it.live("(b) STLS advertised after implicit TLS is never sent: authentication goes on", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        -- implicit-tls localhost
        S: +OK ready
        C: CAPA
        S: +OK
        S+ STLS
        S+ SASL PLAIN
        S+ .
        C: ${AUTH_PLAIN}
        S: +OK
        `,
        Pop3Client.session({ ...H.tlsOptions, credentials })
      )
      assert.strictEqual(exit._tag, "Success")
      assert.notInclude(Recording.tlsClientBytes(recording), "STLS")
    }))
})

describe("A28: the opportunistic policy (explicit layer)", () => {
  const collect = () => {
    const events: Array<SecurityEvents.SecurityEvent> = []
    return { events, layer: SecurityEvents.layer((e) => Effect.sync(() => events.push(e))) }
  }

  /** `opportunistic` on `transcript`, then USER / PASS under the plaintext layer. */
  const plainLogin = (transcript: string) =>
    Effect.gen(function*() {
      const sink = collect()
      const script = H.scripted(transcript)
      const state = yield* Effect.gen(function*() {
        const connection = yield* Pop3Client.opportunistic(H.options)
        if (connection.state !== "Plain") return connection.state
        const authed = yield* Pop3Client.login(connection, credentials).pipe(
          Effect.provide(TlsPolicy.allowPlaintextAuthDangerously)
        )
        return authed.state
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(script.layer, TlsPolicy.opportunisticStartTlsDangerously, sink.layer))
      )
      yield* script.recording
      return { state, events: sink.events }
    })
  const userPass = `
    C: USER test
    S: +OK
    C: PASS ${SECRET}
    S: +OK Logged in.
  `

  it.live("A29 replayed with the layer: stays Plain, a Downgrade event; credentials still need PlaintextAuth", () =>
    Effect.gen(function*() {
      const { events, state } = yield* plainLogin(`
        S: +OK POP3 server ready.
        C: CAPA
        S: +OK
        S+ USER
        S+ .
        ${userPass}
      `)
      assert.strictEqual(state, "Authenticated")
      assert.deepStrictEqual(events.map((e) => e._tag), ["Downgrade", "PlaintextAuthentication"])
    }))

  it.live("CAPA answered -ERR (a server without CAPA), with the layer: Downgrade, Plain, USER/PASS allowed", () =>
    Effect.gen(function*() {
      const { events, state } = yield* plainLogin(`
        S: +OK POP3 server ready.
        C: CAPA
        S: -ERR Unknown command.
        ${userPass}
      `)
      assert.strictEqual(state, "Authenticated")
      assert.deepStrictEqual(events.map((e) => e._tag), ["Downgrade", "PlaintextAuthentication"])
      const downgrade = events[0]
      assert.include(downgrade?._tag === "Downgrade" ? downgrade.reason : "", "capabilities refused")
    }))

  it.live("a malformed CAPA answer is not a refusal: the opportunistic connection fails, no downgrade", () =>
    Effect.gen(function*() {
      const sink = collect()
      const script = H.scripted(`
        S: +OK ready
        C: CAPA
        S: hello?
      `)
      const exit = yield* Effect.exit(Pop3Client.opportunistic(H.options)).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(script.layer, TlsPolicy.opportunisticStartTlsDangerously, sink.layer))
      )
      assert.strictEqual(reasonOf(exit)._tag, "ProtocolViolation")
      assert.deepStrictEqual(sink.events, [])
    }))

  it.live("STLS listed but refused, with the layer: Downgrade, Plain", () =>
    Effect.gen(function*() {
      const sink = collect()
      const script = H.scripted(`
        S: +OK ready
        C: CAPA
        S: +OK
        S+ STLS
        S+ .
        C: STLS
        S: -ERR [SYS/TEMP] not now
      `)
      const state = yield* Effect.map(Pop3Client.opportunistic(H.options), (c) => c.state).pipe(
        Effect.scoped,
        Effect.provide(Layer.mergeAll(script.layer, TlsPolicy.opportunisticStartTlsDangerously, sink.layer))
      )
      assert.strictEqual(state, "Plain")
      assert.deepStrictEqual(sink.events.map((e) => e._tag), ["Downgrade"])
    }))

  it.live("without the layer, a Plain login cast around the type is refused at run time: PolicyViolation", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* against(
        `
        S: +OK ready
        `,
        Effect.gen(function*() {
          const plain = yield* Pop3Client.connect(H.options)
          // The type says PlaintextAuth is required; a program that lies about it still cannot log in.
          const unsafe = Pop3Client.login(plain, credentials) as unknown as Effect.Effect<unknown, MailError.MailError>
          return yield* unsafe
        })
      )
      assert.strictEqual(reasonOf(exit)._tag, "PolicyViolation")
      assert.strictEqual(recording.chunks.length, 0)
    }))
})

describe("§3.6 invariants", () => {
  it.live("5: bytes that arrive while no command is in flight are a ProtocolViolation, not an answer", () =>
    Effect.gen(function*() {
      const { exit } = yield* against(
        `
        S: +OK ready
        S+ +OK forged answer to the next command
        `,
        Effect.gen(function*() {
          const plain = yield* Pop3Client.connect(H.options)
          return yield* Pop3Client.login(plain, credentials).pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
        })
      )
      const error = errorOf(exit)
      assert.strictEqual(error.reason._tag, "ProtocolViolation")
    }))

  it.live("7: a failure is final: one connection only, no retry, no fallback", () =>
    Effect.gen(function*() {
      let connections = 0
      const server = yield* Pop3Server.make({ refuseStls: true })
      const layer = H.servingCounted(server, () => connections++)
      const exit = yield* Effect.exit(Effect.scoped(session).pipe(Effect.provide(layer)))
      assert.strictEqual(reasonOf(exit)._tag, "StartTlsRejected")
      assert.strictEqual(connections, 1)
    }))
})
