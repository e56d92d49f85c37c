/**
 * Transcript tests of the SMTP session: greeting, EHLO, STARTTLS, EHLO over TLS, AUTH, QUIT, with
 * every reply class at every step. Exact client bytes come from the transcripts (ScriptedServer
 * fails the test on any difference).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Smtp from "../src/SmtpClient.ts"
import { assertNoCred, AUTH, credentials, GREETING, options, password, PLAIN_EHLO, plainResponse, QUIT, reason, scripted, STARTTLS, TLS_EHLO } from "./ClientHarness.ts"

const run = <A, E>(layer: Layer.Layer<never, never, never> | Layer.Layer<any, never, never>, program: Effect.Effect<A, E, any>) =>
  Effect.exit(program.pipe(Effect.scoped, Effect.provide(layer))) as Effect.Effect<Exit.Exit<A, E>>

describe("session negotiation", () => {
  it.live("session: EHLO, STARTTLS, EHLO over TLS (plaintext list forgotten), AUTH PLAIN with initial response, QUIT", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`${GREETING}${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}${AUTH}${QUIT}`)
      const exit = yield* run(
        layer,
        Effect.gen(function*() {
          const smtp = yield* Smtp.session({ ...options, credentials })
          assert.strictEqual(smtp.state, "Authenticated")
          const ext = yield* Smtp.extensions(smtp)
          assert.deepStrictEqual(ext.auth, ["PLAIN", "LOGIN"])
          assert.isFalse(ext.startTls)
          assert.isTrue(ext.chunking)
          assert.strictEqual(ext.size, 10000)
          assert.strictEqual(smtp.session.plaintextCapabilities, undefined)
          yield* Smtp.close(smtp)
        })
      )
      assert.isTrue(Exit.isSuccess(exit))
      const rec = yield* recording
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(Recording.plaintextClientBytes(rec), "EHLO client.example\r\nSTARTTLS\r\n")
      assert.strictEqual(rec.handshake?.protocol, "TLSv1.3")
      assert.strictEqual(rec.sentBeforeHandshake.length, 0)
      assertNoCred(rec)
    }))

  it.live("step by step: connect → untrusted plaintext extensions → startTls → trusted extensions; old handles are stale", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`${GREETING}${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}${QUIT}`)
      const exit = yield* run(
        layer,
        Effect.gen(function*() {
          const plain = yield* Smtp.connect(options)
          const before = yield* Smtp.untrustedExtensions(plain)
          assert.isTrue(before.startTls)
          assert.deepStrictEqual(before.auth, ["PLAIN"])
          assert.isFalse(before.chunking)
          const secure = yield* Smtp.startTls(plain)
          const after = yield* Smtp.extensions(secure)
          assert.isFalse(after.startTls)
          assert.isTrue(after.chunking)
          const stale = reason(yield* Effect.exit(Smtp.untrustedExtensions(plain)))
          assert.strictEqual(stale._tag, "StaleConnection")
          yield* Smtp.close(secure)
        })
      )
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      yield* recording
    }))

  it.live("implicit TLS (465): greeting over TLS, EHLO, AUTH; no STARTTLS even when advertised (A26 b)", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`
        -- implicit-tls localhost
        ${GREETING}
        C: EHLO client.example
        S: 250-mx.example
        S+ 250-STARTTLS
        S+ 250 AUTH PLAIN
        ${AUTH}
        C: NOOP
        S: 250 2.0.0 Ok
        ${QUIT}`)
      const exit = yield* run(
        layer,
        Effect.gen(function*() {
          const secure = yield* Smtp.connectTls({ ...options, port: 465 })
          assert.strictEqual(Smtp.tlsSession(secure)?.verified, true)
          const smtp = yield* Smtp.authenticate(secure, credentials)
          yield* Smtp.noop(smtp)
          yield* Smtp.close(smtp)
        })
      )
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const rec = yield* recording
      assert.strictEqual(Recording.plaintextClientBytes(rec), "")
      assert.include(Recording.tlsClientBytes(rec), "AUTH PLAIN")
    }))

  it.live("a session without credentials stays Secure (MTA port without AUTH)", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`${GREETING}${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}${QUIT}`)
      const exit = yield* run(
        layer,
        Effect.gen(function*() {
          const smtp = yield* Smtp.session(options)
          assert.strictEqual(smtp.state, "Secure")
          yield* Smtp.close(smtp)
        })
      )
      assert.isTrue(Exit.isSuccess(exit))
      yield* recording
    }))

  describe("greeting: only 220 opens a session", () => {
    for (const greeting of ["554 5.3.2 not now", "421 4.3.2 shutting down", "250 odd", "354 odd", "221 bye"]) {
      it.live(`${greeting.slice(0, 3)} → GreetingRejected, text untrusted, nothing sent`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`S: ${greeting}\n-- expect-close`)
          const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
          assert.strictEqual(r._tag, "GreetingRejected")
          if (r._tag === "GreetingRejected") {
            assert.strictEqual(r.untrustedText, greeting)
            assert.notInclude(r.message, greeting.slice(4))
          }
          const rec = yield* recording
          assert.strictEqual(Recording.plaintextClientBytes(rec), "")
        }))
    }

    it.live("a multi-line 220 greeting opens the session", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          S: 220-mx.example ESMTP
          S+ 220 second line
          ${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}${QUIT}`)
        const exit = yield* run(layer, Effect.flatMap(Smtp.secure(options), Smtp.close))
        assert.isTrue(Exit.isSuccess(exit))
        yield* recording
      }))

    it.live("a greeting that is no reply at all → ProtocolViolation", () =>
      Effect.gen(function*() {
        const { layer } = yield* scripted(`S: hello there\n-- expect-close`)
        const r = reason(yield* run(layer, Smtp.connect(options)))
        assert.strictEqual(r._tag, "ProtocolViolation")
      }))
  })

  describe("EHLO before TLS (required policy)", () => {
    it.live("no STARTTLS in the list → StartTlsUnavailable, STARTTLS never sent (A34)", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          S: 220 smtp.example.com ESMTP fake
          C: EHLO client.example
          S: 250-example.org hi
          S+ 250 AUTH PLAIN LOGIN
          -- expect-close`)
        const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
        assert.strictEqual(r._tag, "StartTlsUnavailable")
        const rec = yield* recording
        assert.strictEqual(Recording.plaintextClientBytes(rec), "EHLO client.example\r\n")
      }))

    for (const refusal of ["500 5.5.1 unrecognized", "501 5.5.4 syntax", "502 5.5.1 not implemented", "504 no", "550 no", "421 4.3.2 bye", "530 5.7.0 nope", "451 later"]) {
      it.live(`EHLO → ${refusal.slice(0, 3)} → StartTlsUnavailable, no HELO (A36)`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`
            ${GREETING}
            C: EHLO client.example
            S: ${refusal}
            -- expect-close`)
          const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
          assert.strictEqual(r._tag, "StartTlsUnavailable")
          const rec = yield* recording
          assert.strictEqual(Recording.plaintextClientBytes(rec), "EHLO client.example\r\n")
          assertNoCred(rec)
        }))
    }
  })

  describe("STARTTLS replies: only 220 starts TLS (A34, A35)", () => {
    const cases: ReadonlyArray<readonly [string, string, boolean | undefined]> = [
      ["454 4.7.0 TLS not available due to temporary reason", "StartTlsRejected", true],
      ["421 4.3.2 Service shutting down", "StartTlsRejected", true],
      ["500 5.5.1 Syntax error, command unrecognized", "StartTlsRejected", false],
      ["501 5.5.4 Syntax error in command or arguments", "StartTlsRejected", false],
      ["502 5.5.1 Command not implemented", "StartTlsRejected", false],
      ["530 5.7.0 Must issue STARTTLS first", "StartTlsRejected", false],
      ["354 do something else", "ProtocolViolation", undefined],
      ["221 Closing connection!", "ProtocolViolation", undefined],
      ["200 STRIPTLS", "ProtocolViolation", undefined],
      ["250 ok", "ProtocolViolation", undefined]
    ]
    for (const [reply, tag, retryable] of cases) {
      it.live(`${reply.slice(0, 3)} → ${tag}${retryable === undefined ? "" : ` (retryable: ${retryable})`}, connection closed, no-cred`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`
            ${GREETING}${PLAIN_EHLO}
            C: STARTTLS
            S: ${reply}
            -- expect-close`)
          const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
          assert.strictEqual(r._tag, tag)
          if (r._tag === "StartTlsRejected") {
            assert.strictEqual(r.retryable, retryable)
            assert.strictEqual(r.code, reply.slice(0, 3))
            assert.include(r.untrustedReply, reply.slice(4))
            assert.notInclude(r.message, reply.slice(8))
          }
          const rec = yield* recording
          assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
          assert.strictEqual(rec.sentAfterExpectClose.length, 0)
          assert.strictEqual(Recording.plaintextClientBytes(rec), "EHLO client.example\r\nSTARTTLS\r\n")
          assertNoCred(rec)
        }))
    }
  })

  describe("EHLO over TLS", () => {
    for (const reply of ["502 5.5.1 no", "421 4.3.2 bye", "250-"]) {
      it.live(`a refused or broken re-query (${reply}) → CapabilitiesUnavailable, never the plaintext list (S4)`, () =>
        Effect.gen(function*() {
          const { layer } = yield* scripted(`
            ${GREETING}${PLAIN_EHLO}${STARTTLS}
            C: EHLO client.example
            S: ${reply === "250-" ? "250-mx\\r\\n250-AUTH PLAIN\\r\\n25x broken" : reply}
            -- expect-close`)
          const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
          // A refusal is CapabilitiesUnavailable; a reply that does not parse keeps its own reason.
          assert.strictEqual(r._tag, reply === "250-" ? "ProtocolViolation" : "CapabilitiesUnavailable")
        }))
    }

    it.live("AUTH offered only in plaintext → NoUsableMechanism over TLS (S4, S11)", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          ${GREETING}${PLAIN_EHLO}${STARTTLS}
          C: EHLO client.example
          S: 250-mx
          S+ 250 PIPELINING
          ${QUIT}`)
        const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
        assert.strictEqual(r._tag, "NoUsableMechanism")
        const rec = yield* recording
        assert.notInclude(Recording.tlsClientBytes(rec), "AUTH")
      }))
  })

  describe("AUTH (RFC 4954)", () => {
    const secured = `${GREETING}${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}`
    for (const [reply, code] of [
      ["535 5.7.8 Error: authentication failed", "535 5.7.8"],
      ["454 4.7.0 Temporary authentication failure", "454 4.7.0"],
      ["534 5.7.9 Authentication mechanism is too weak", "534 5.7.9"],
      ["500 5.5.6 Authentication Exchange line is too long", "500 5.5.6"]
    ] as const) {
      it.live(`${reply.slice(0, 9)} → AuthenticationFailed with code ${code}, text untrusted`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`${secured}
            C: AUTH PLAIN ${plainResponse}
            S: ${reply}`)
          const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
          assert.strictEqual(r._tag, "AuthenticationFailed")
          if (r._tag === "AuthenticationFailed") {
            assert.strictEqual(r.code, code)
            assert.strictEqual(r.mechanism, "PLAIN")
            assert.include(r.untrustedReply ?? "", reply.slice(10))
            assert.notInclude(r.message, reply.slice(10))
          }
          yield* recording
        }))
    }

    it.live("LOGIN: 334 challenges for username and password, 235", () =>
      Effect.gen(function*() {
        const b64 = (s: string) => Buffer.from(s).toString("base64")
        const { layer, recording } = yield* scripted(`${secured}
          C: AUTH LOGIN
          S: 334 VXNlcm5hbWU6
          C: ${b64("alice")}
          S: 334 UGFzc3dvcmQ6
          C: ${b64(password)}
          S: 235 2.7.0 ok
          ${QUIT}`)
        const exit = yield* run(
          layer,
          Effect.flatMap(
            Smtp.session({ ...options, credentials, authenticate: { mechanisms: ["LOGIN"] } }),
            Smtp.close
          )
        )
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        yield* recording
      }))

    it.live("EXTERNAL with an empty initial response is sent as `=`", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          ${GREETING}${PLAIN_EHLO}${STARTTLS}
          C: EHLO client.example
          S: 250-mx
          S+ 250 AUTH EXTERNAL
          C: AUTH EXTERNAL =
          S: 235 2.7.0 ok
          ${QUIT}`)
        const exit = yield* run(
          layer,
          Effect.flatMap(Smtp.session({ ...options, credentials: Credentials.external() }), Smtp.close)
        )
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        yield* recording
      }))

    for (const [reply, detail] of [["334 not*base64", "malformed"], ["250 ok", "unexpected"], ["354 go", "unexpected"]] as const) {
      it.live(`${reply} during AUTH → ProtocolViolation`, () =>
        Effect.gen(function*() {
          const { layer } = yield* scripted(`${secured}
            C: AUTH PLAIN ${plainResponse}
            S: ${reply}`)
          const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
          assert.strictEqual(r._tag, "ProtocolViolation")
          if (r._tag === "ProtocolViolation") assert.include(r.detail, detail)
        }))
    }

    it.live("a challenge after PLAIN's only response is answered with `*` (cancel); the 501 ends it", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`${secured}
          C: AUTH PLAIN ${plainResponse}
          S: 334 
          C: *
          S: 501 5.7.0 cancelled`)
        const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
        assert.strictEqual(r._tag, "AuthenticationFailed")
        yield* recording
      }))

    it.live("wrong credentials over TLS never leave a secret in plaintext", () =>
      Effect.gen(function*() {
        const wrong = Credentials.password({ username: "alice", password: Redacted.make("nope") })
        const { layer, recording } = yield* scripted(`${secured}
          C: AUTH PLAIN ${Buffer.from("\0alice\0nope").toString("base64")}
          S: 535 5.7.8 Error: authentication failed`)
        yield* run(layer, Smtp.session({ ...options, credentials: wrong }))
        const rec = yield* recording
        assert.deepStrictEqual(Recording.findSecretsInPlaintext(rec, ["nope"]), [])
      }))
  })

  describe("opportunistic (dangerous policy)", () => {
    const collect = () => {
      const events: Array<SecurityEvents.SecurityEvent> = []
      const layer = Layer.merge(
        TlsPolicy.opportunisticStartTlsDangerously,
        SecurityEvents.layer((e) => Effect.sync(() => events.push(e)))
      )
      return { events, layer }
    }

    it.live("STARTTLS offered: it is used (the handle is Secure)", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`${GREETING}${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}${QUIT}`)
        const policy = collect()
        const exit = yield* run(
          Layer.merge(layer, policy.layer),
          Effect.gen(function*() {
            const smtp = yield* Smtp.opportunistic(options)
            assert.strictEqual(smtp.state, "Secure")
            yield* Smtp.close(smtp)
          })
        )
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.deepStrictEqual(policy.events, [])
        yield* recording
      }))

    for (const [label, script, why] of [
      ["STARTTLS not offered (A28 replaying A34)", "C: EHLO client.example\nS: 250-mx\nS+ 250 AUTH PLAIN", "STARTTLS not offered"],
      ["STARTTLS refused with 454 (A28 replaying A35)", `${PLAIN_EHLO}\nC: STARTTLS\nS: 454 4.7.0 not now`, "STARTTLS refused (454)"],
      ["EHLO refused: HELO fallback (A36)", "C: EHLO client.example\nS: 502 5.5.1 no\nC: HELO client.example\nS: 250 mx", "EHLO refused; HELO cannot negotiate STARTTLS"]
    ] as const) {
      it.live(`${label}: stays Plain with a Downgrade event`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`${GREETING}\n${script}\n${QUIT}`)
          const policy = collect()
          const exit = yield* run(
            Layer.merge(layer, policy.layer),
            Effect.gen(function*() {
              const smtp = yield* Smtp.opportunistic(options)
              assert.strictEqual(smtp.state, "Plain")
              assert.strictEqual(smtp.session.capabilities, undefined)
              yield* Smtp.close(smtp)
            })
          )
          assert.isTrue(Exit.isSuccess(exit), String(exit))
          assert.deepStrictEqual(policy.events.map((e) => e._tag === "Downgrade" ? e.reason : e._tag), [why])
          yield* recording
        }))
    }

    it.live("421 to STARTTLS is not a downgrade: it fails and closes", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`${GREETING}${PLAIN_EHLO}\nC: STARTTLS\nS: 421 4.3.2 bye\n-- expect-close`)
        const policy = collect()
        const r = reason(yield* run(Layer.merge(layer, policy.layer), Smtp.opportunistic(options)))
        assert.strictEqual(r._tag, "StartTlsRejected")
        assert.deepStrictEqual(policy.events, [])
        yield* recording
      }))

    it.live("without the policy the same scripts fail (A28)", () =>
      Effect.gen(function*() {
        const { layer } = yield* scripted(`${GREETING}\nC: EHLO client.example\nS: 250-mx\nS+ 250 AUTH PLAIN\n-- expect-close`)
        const r = reason(yield* run(layer, Smtp.session({ ...options, credentials })))
        assert.strictEqual(r._tag, "StartTlsUnavailable")
      }))
  })

  it.live("an invalid client name is refused before connecting", () =>
    Effect.gen(function*() {
      const { layer } = yield* scripted(`${GREETING}`)
      const r = reason(yield* run(layer, Smtp.connect({ ...options, clientName: "evil\r\nMAIL FROM:<x>" })))
      assert.strictEqual(r._tag, "InvalidArgument")
    }))
})
