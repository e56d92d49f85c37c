/**
 * ATTACKS.md rows for SMTP (A19, A24, A25, A26, A28, A34, A35, A36, A38), each on the scripted
 * server with the outcome the row demands, and the cross-cutting invariants of §3.6: no credential
 * or content byte in plaintext, nothing read after the 220 survives, capabilities only from TLS,
 * nothing written between STARTTLS and the handshake, plaintext text never trusted, typed failures
 * without fallback or retry, bounded buffers.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Smtp from "../src/SmtpClient.ts"
import {
  assertNoCred,
  AUTH,
  credentials,
  GREETING,
  options,
  PLAIN_EHLO,
  QUIT,
  reason,
  scripted,
  STARTTLS,
  TLS_EHLO
} from "./ClientHarness.ts"

const attempt = <A, E>(layer: Layer.Layer<any>, program: Effect.Effect<A, E, any>) =>
  Effect.exit(program.pipe(Effect.scoped, Effect.provide(layer))) as Effect.Effect<Exit.Exit<A, E>>

const sessionIn = (layer: Layer.Layer<any>) => attempt(layer, Smtp.session({ ...options, credentials }))

describe("ATTACKS.md SMTP rows", () => {
  it.live("A19: STARTTLS answered after 250 ms with PIPELINING offered: STARTTLS alone in its write, zero bytes until the handshake", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`
        ${GREETING}${PLAIN_EHLO}
        C: STARTTLS
        -- delay 250
        S: 220 2.0.0 Ready to start TLS
        -- starttls
        ${TLS_EHLO}${AUTH}${QUIT}`)
      const exit = yield* attempt(layer, Effect.flatMap(Smtp.session({ ...options, credentials }), Smtp.close))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const rec = yield* recording
      assert.strictEqual(rec.sentBeforeHandshake.length, 0)
      const plain = rec.chunks.filter((c) => c.phase === "plain").map((c) => Buffer.from(c.bytes).toString("latin1"))
      assert.deepStrictEqual(plain, ["EHLO client.example\r\n", "STARTTLS\r\n"])
      assertNoCred(rec)
    }))

  describe("A24: bounded buffers, no defect", () => {
    it.live("(a) a first line of more than 1 MiB without CRLF → LimitExceeded, connection closed, nothing sent", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`-- inject 220 ${"x".repeat(1024 * 1024 + 16)}\n-- expect-close`)
        const r = reason(yield* sessionIn(layer))
        assert.strictEqual(r._tag, "LimitExceeded")
        if (r._tag === "LimitExceeded") assert.strictEqual(r.limit, "maxLineLength")
        const rec = yield* recording
        assert.strictEqual(Recording.plaintextClientBytes(rec), "")
      }))

    it.live("(e) an EHLO reply with endless 250- continuation lines → LimitExceeded maxLinesPerReply", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          ${GREETING}
          C: EHLO client.example
          -- inject ${"250-x\\r\\n".repeat(1001)}
          -- expect-close`)
        const r = reason(yield* sessionIn(layer))
        assert.strictEqual(r._tag, "LimitExceeded")
        if (r._tag === "LimitExceeded") assert.strictEqual(r.limit, "maxLinesPerReply")
        assertNoCred(yield* recording)
      }))

    it.live("(e') the line limit follows the connection's limits (maxReplyLines)", () =>
      Effect.gen(function*() {
        const { layer } = yield* scripted(`
          ${GREETING}
          C: EHLO client.example
          -- inject ${"250-x\\r\\n".repeat(11)}
          -- expect-close`)
        const r = reason(yield* attempt(layer, Smtp.session({ ...options, limits: { maxReplyLines: 10 }, credentials })))
        assert.strictEqual(r._tag, "LimitExceeded")
      }))

    it.live("(c) NUL and 0xFF in the greeting text: read as untrusted text, no defect; the session goes on securely", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          S: 220 \\x00\\xff ready
          ${PLAIN_EHLO}${STARTTLS}${TLS_EHLO}${AUTH}${QUIT}`)
        const exit = yield* attempt(layer, Effect.flatMap(Smtp.session({ ...options, credentials }), Smtp.close))
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assertNoCred(yield* recording)
      }))

    it.live("a reply that is not SMTP at all after the greeting → ProtocolViolation", () =>
      Effect.gen(function*() {
        const { layer } = yield* scripted(`
          ${GREETING}
          C: EHLO client.example
          S: \\x16\\x03\\x01garbage
          -- expect-close`)
        const r = reason(yield* sessionIn(layer))
        assert.strictEqual(r._tag, "ProtocolViolation")
      }))
  })

  describe("A25: certificate validation (STARTTLS and implicit TLS)", () => {
    for (
      const [profile, kind] of [
        ["self-signed", "CertificateUntrusted"],
        ["wrong-name", "HostnameMismatch"],
        ["expired", "CertificateExpired"]
      ] as const
    ) {
      it.live(`STARTTLS, ${profile} → TlsFailure ${kind}; no credentials, no fallback, one connection`, () =>
        Effect.gen(function*() {
          const { connections, layer, recording } = yield* scripted(`
            ${GREETING}${PLAIN_EHLO}
            C: STARTTLS
            S: 220 go ahead
            -- starttls ${profile}`)
          const r = reason(yield* sessionIn(layer))
          assert.strictEqual(r._tag, "TlsFailure")
          if (r._tag === "TlsFailure") {
            assert.strictEqual(r.kind, kind)
            assert.strictEqual(r.host, "localhost")
          }
          const rec = yield* recording
          assert.strictEqual(Recording.tlsClientBytes(rec), "")
          assertNoCred(rec)
          assert.strictEqual(connections(), 1)
        }))

      it.live(`implicit TLS (465), ${profile} → TlsFailure ${kind}; nothing sent`, () =>
        Effect.gen(function*() {
          const { connections, layer, recording } = yield* scripted(`-- implicit-tls ${profile}\n${GREETING}`)
          const r = reason(yield* attempt(layer, Smtp.session({ ...options, port: 465, credentials })))
          assert.strictEqual(r._tag, "TlsFailure")
          if (r._tag === "TlsFailure") assert.strictEqual(r.kind, kind)
          const rec = yield* recording
          assert.strictEqual(Recording.tlsClientBytes(rec), "")
          assert.strictEqual(Recording.plaintextClientBytes(rec), "")
          assert.strictEqual(connections(), 1)
        }))
    }
  })

  describe("A26: implicit TLS", () => {
    it.live("(a) the port speaks plaintext instead of TLS → SecurityModeMismatch, bytes never read as SMTP, no fallback", () =>
      Effect.gen(function*() {
        const { connections, layer } = yield* scripted(`S: 220 x ESMTP\n-- expect-close`)
        const r = reason(yield* attempt(layer, Smtp.session({ ...options, port: 465, credentials })))
        assert.strictEqual(r._tag, "SecurityModeMismatch")
        assert.strictEqual(connections(), 1)
      }))

    it.live("(b) STARTTLS advertised over implicit TLS is never sent (and does not type-check on Secure)", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          -- implicit-tls localhost
          ${GREETING}
          C: EHLO client.example
          S: 250-mx
          S+ 250-STARTTLS
          S+ 250 AUTH PLAIN
          ${AUTH}${QUIT}`)
        const exit = yield* attempt(layer, Effect.flatMap(Smtp.session({ ...options, port: 465, credentials }), Smtp.close))
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.notInclude(Recording.tlsClientBytes(yield* recording), "STARTTLS")
      }))
  })

  describe("A28: the explicit opportunistic policy", () => {
    const policy = () => {
      const events: Array<SecurityEvents.SecurityEvent> = []
      return {
        events,
        layer: Layer.merge(
          TlsPolicy.opportunisticStartTlsDangerously,
          SecurityEvents.layer((e) => Effect.sync(() => events.push(e)))
        )
      }
    }
    const a34 = `
      S: 220 smtp.example.com ESMTP fake
      C: EHLO client.example
      S: 250-example.org ...
      S+ 250 AUTH PLAIN LOGIN`

    it.live("replaying A34: the session stays Plain (never Secure), with a Downgrade event; AUTH needs yet another policy", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`${a34}${QUIT}`)
        const p = policy()
        const exit = yield* attempt(
          Layer.merge(layer, p.layer),
          Effect.gen(function*() {
            const smtp = yield* Smtp.opportunistic(options)
            assert.strictEqual(smtp.state, "Plain")
            assert.isUndefined(Smtp.tlsSession(smtp))
            yield* Smtp.close(smtp)
          })
        )
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.deepStrictEqual(p.events.map((e) => e._tag), ["Downgrade"])
        assertNoCred(yield* recording)
      }))

    it.live("replaying A35 (454): Plain with a Downgrade event; the same script without the policy fails", () =>
      Effect.gen(function*() {
        const script = `${GREETING}${PLAIN_EHLO}\nC: STARTTLS\nS: 454 TLS not available due to temporary reason`
        const withPolicy = yield* scripted(`${script}${QUIT}`)
        const p = policy()
        const exit = yield* attempt(Layer.merge(withPolicy.layer, p.layer), Effect.flatMap(Smtp.opportunistic(options), Smtp.close))
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(p.events.map((e) => e._tag), ["Downgrade"])
        yield* withPolicy.recording
        const without = yield* scripted(`${script}\n-- expect-close`)
        assert.strictEqual(reason(yield* sessionIn(without.layer))._tag, "StartTlsRejected")
      }))

    it.live("when TLS does succeed, the plaintext lists are discarded: AUTH and BDAT follow the post-TLS EHLO", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          ${GREETING}
          C: EHLO client.example
          S: 250-mx
          S+ 250-STARTTLS
          S+ 250-CHUNKING
          S+ 250 AUTH PLAIN
          ${STARTTLS}
          C: EHLO client.example
          S: 250-mx
          S+ 250-PIPELINING
          S+ 250 AUTH LOGIN
          C: AUTH LOGIN
          S: 334 VXNlcm5hbWU6
          C: YWxpY2U=
          S: 334 UGFzc3dvcmQ6
          C: ${Buffer.from("s3cret-pw").toString("base64")}
          S: 235 ok
          C: MAIL FROM:<a@example.com>
          C: RCPT TO:<b@example.org>
          C: DATA
          S: 250 ok
          S+ 250 ok
          S+ 354 go
          C: x
          C: .
          S: 250 ok
          ${QUIT}`)
        const p = policy()
        const exit = yield* attempt(
          Layer.merge(layer, p.layer),
          Effect.gen(function*() {
            const smtp = yield* Smtp.opportunistic(options)
            if (smtp.state !== "Secure") return assert.fail("expected Secure")
            const authed = yield* Smtp.authenticate(smtp as Smtp.SmtpConnection<"Secure">, credentials)
            yield* Smtp.send(authed, { from: "a@example.com", to: ["b@example.org"] }, "x\r\n")
            yield* Smtp.close(authed)
          })
        )
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.deepStrictEqual(p.events, [])
        yield* recording
      }))
  })

  it.live("A34: EHLO without STARTTLS, STARTTLS → 502 → typed failure before any credential; QUIT at most", () =>
    Effect.gen(function*() {
      const { connections, layer, recording } = yield* scripted(`
        S: 220 smtp.example.com ESMTP fake
        C: EHLO client.example
        S: 250-example.org ...
        S+ 250 AUTH PLAIN LOGIN
        -- expect-close`)
      const r = reason(yield* sessionIn(layer))
      // The client does not even try STARTTLS when it was stripped from the list.
      assert.strictEqual(r._tag, "StartTlsUnavailable")
      const rec = yield* recording
      assertNoCred(rec)
      assert.strictEqual(connections(), 1)
    }))

  describe("A34 variants: STARTTLS advertised but refused → StartTlsRejected{code}", () => {
    for (const reply of ["502 Command not implemented", "500 Syntax error, command unrecognized", "501 Syntax error in command or arguments", "530 Must issue STARTTLS first"]) {
      it.live(reply, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`
            S: 220 smtp.example.com ESMTP fake
            C: EHLO client.example
            S: 250-example.org ...
            S+ 250-STARTTLS
            S+ 250 AUTH PLAIN LOGIN
            C: STARTTLS
            S: ${reply}
            -- expect-close`)
          const r = reason(yield* sessionIn(layer))
          assert.strictEqual(r._tag, "StartTlsRejected")
          if (r._tag === "StartTlsRejected") assert.strictEqual(r.code, reply.slice(0, 3))
          assertNoCred(yield* recording)
        }))
    }
  })

  describe("A35: odd STARTTLS reply codes", () => {
    for (
      const [reply, tag] of [
        ["454 TLS not available due to temporary reason", "StartTlsRejected"],
        ["354 do something else", "ProtocolViolation"],
        ["221 Closing connection!", "ProtocolViolation"],
        ["421 Service shutting down", "StartTlsRejected"],
        ["200 STRIPTLS", "ProtocolViolation"]
      ] as const
    ) {
      it.live(`${reply} → ${tag}, closed, no message data, no-cred`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`
            S: 220 smtp.example.com ESMTP fake
            ${PLAIN_EHLO}
            C: STARTTLS
            S: ${reply}
            -- expect-close`)
          const r = reason(yield* sessionIn(layer))
          assert.strictEqual(r._tag, tag)
          if (r._tag === "StartTlsRejected") assert.strictEqual(r.retryable, true)
          const rec = yield* recording
          assert.strictEqual(rec.sentAfterExpectClose.length, 0)
          assertNoCred(rec)
        }))
    }
  })

  describe("A36: ESMTP → SMTP downgrade", () => {
    for (const reply of ["502 Error: command \"EHLO\" not implemented", "500 no", "501 no", "504 no", "550 no", "421 no", "530 no"]) {
      it.live(`EHLO → ${reply.slice(0, 3)}: no HELO session, no MAIL in plaintext → StartTlsUnavailable`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`
            S: 220 smtp.example.com ESMTP fake
            C: EHLO client.example
            S: ${reply}
            -- expect-close`)
          const r = reason(yield* sessionIn(layer))
          assert.strictEqual(r._tag, "StartTlsUnavailable")
          assertNoCred(yield* recording)
        }))
    }
  })

  describe("A38: response injection after the 220", () => {
    for (
      const injected of [
        "250-example.org\\r\\n250 AUTH LOGIN\\r\\n",
        "250-mx.evil\\r\\n250 AUTH PLAIN\\r\\n",
        "250-partial line without CRLF"
      ]
    ) {
      it.live(`⟦one write⟧ 220 + ${JSON.stringify(injected.slice(0, 16))}… → StartTlsInjection before the handshake`, () =>
        Effect.gen(function*() {
          const { layer, recording } = yield* scripted(`
            ${GREETING}${PLAIN_EHLO}
            C: STARTTLS
            S: 220 Ready to start TLS
            -- inject ${injected}
            -- expect-close`)
          const r = reason(yield* sessionIn(layer))
          assert.strictEqual(r._tag, "StartTlsInjection")
          const rec = yield* recording
          assert.isUndefined(rec.handshake)
          // Not even a ClientHello went out: the check runs before TLS starts.
          assert.strictEqual(rec.sentAfterExpectClose.length, 0)
          assertNoCred(rec)
        }))
    }

    it.live("⟦later write⟧ plaintext after the 220 reaches the TLS engine → TlsFailure NotTls; never parsed as a reply", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          ${GREETING}${PLAIN_EHLO}
          C: STARTTLS
          S: 220 Ready to start TLS
          -- delay 20
          S: 250 AUTH LOGIN
          -- expect-close`, { timeoutMs: 300 })
        const r = reason(yield* sessionIn(layer))
        assert.strictEqual(r._tag, "TlsFailure")
        if (r._tag === "TlsFailure") assert.strictEqual(r.kind, "NotTls")
        // The client hangs up while the server is still writing: the script may not see its write end.
        const rec = yield* recording.pipe(Effect.catchTag("ScriptMismatch", (e) => Effect.succeed(e.recording)))
        assertNoCred(rec)
      }))
  })

  describe("§3.6 invariants", () => {
    it.live("5: replies pair with commands in order; an unsolicited reply after the greeting enables nothing", () =>
      Effect.gen(function*() {
        const { layer, recording } = yield* scripted(`
          ${GREETING}
          S+ 250-mx
          S+ 250 AUTH PLAIN
          C: EHLO client.example
          -- expect-close`)
        const r = reason(yield* sessionIn(layer))
        assert.strictEqual(r._tag, "StartTlsUnavailable")
        assertNoCred(yield* recording)
      }))

    it.live("6: plaintext text never appears in error messages", () =>
      Effect.gen(function*() {
        const { layer } = yield* scripted(`
          ${GREETING}${PLAIN_EHLO}
          C: STARTTLS
          S: 454 Your password expired, visit http://attacker.example/
          -- expect-close`)
        const r = reason(yield* sessionIn(layer))
        assert.strictEqual(r._tag, "StartTlsRejected")
        assert.notInclude(r.message, "attacker")
        if (r._tag === "StartTlsRejected") assert.include(r.untrustedReply, "attacker")
      }))
  })
})
