import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as WireTrace from "@starttls/core/WireTrace"
// core does not depend on testkit (dependencies point one way); its tests borrow the in-memory transport.
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as MemoryTransport from "../../testkit/src/MemoryTransport.ts"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fc from "fast-check"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Layer from "effect/Layer"
import * as LineDialect from "./LineDialect.ts"
import * as LineServer from "./LineServer.ts"

type LineConnection<S extends Connection.State> = Connection.Connection<S, string, LineDialect.Caps>

const options = { host: "localhost", port: 9143, tls: { trustOnly: [LineServer.certs.ca] } }

const withServer = (config: LineServer.Config) => {
  const rec = LineServer.newRecording()
  const layer = MemoryTransport.layer((server) => LineServer.serve(config, rec)(server))
  return { rec, layer }
}


describe("Connection over real in-memory TLS", () => {
  it.live("greeting → STARTTLS → capabilities again over TLS", () => {
    const { rec, layer } = withServer({ plainCaps: ["STARTTLS", "X-PLAIN-ONLY"], tlsCaps: ["AUTH=PLAIN", "ECHO"] })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      assert.strictEqual(plain.state, "Plain")
      assert.deepStrictEqual(plain.session.plaintextCapabilities, ["STARTTLS", "X-PLAIN-ONLY"])
      const secure = yield* Connection.startTls(plain)
      assert.strictEqual(secure.state, "Secure")
      assert.deepStrictEqual(yield* Connection.capabilities(secure), ["AUTH=PLAIN", "ECHO"])
      assert.strictEqual(secure.session.plaintextCapabilities, undefined)
      const tls = Connection.tlsSession(secure)
      assert.isDefined(tls)
      assert.isTrue(tls!.verified)
      assert.strictEqual(tls!.protocol, "TLSv1.3")
      assert.strictEqual(tls!.channelBinding?.length, 32)
      assert.strictEqual(yield* Connection.exchange(secure.session, LineDialect.echo("hello")), "hello")
      assert.strictEqual(LineServer.plaintextSent(rec), "STARTTLS\r\n")
      assert.strictEqual(LineServer.tlsSent(rec), "CAPA\r\nECHO hello\r\n")
      assert.deepStrictEqual(rec.afterStartTls, [])
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("a consumed handle is stale (typestate enforced at run time)", () => {
    const { layer } = withServer({})
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const secure = yield* Connection.startTls(plain)
      const again = yield* Effect.exit(Connection.startTls(plain))
      const reason = reasonOf(again)
      assert.strictEqual(reason._tag, "StaleConnection")
      assert.include(reason.message, "Plain")
      assert.strictEqual(secure.session.state, "Secure")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("S3: bytes in the same write as the STARTTLS reply fail before TLS starts, counted exactly", () => {
    const injected = new TextEncoder().encode("+OK CAPS AUTH=PLAIN\r\n")
    const { rec, layer } = withServer({ injectSameWrite: injected })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const exit = yield* Effect.exit(Connection.startTls(plain))
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "StartTlsInjection")
      if (reason._tag === "StartTlsInjection") {
        assert.strictEqual(reason.pendingBytes, injected.length)
        assert.strictEqual(reason.preview, "+OK CAPS AUTH=PLAIN\\r\\n")
      }
      assert.strictEqual(Connection.runtimeState(plain), "Closed")
      assert.isFalse(rec.tlsStarted)
      assert.strictEqual(LineServer.plaintextSent(rec), "STARTTLS\r\n")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("S3: plaintext written after the STARTTLS reply breaks the handshake (NotTls)", () => {
    const { rec, layer } = withServer({
      injectLater: new TextEncoder().encode("+OK CAPS AUTH=PLAIN\r\n"),
      injectDelayMs: 5
    })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const reason = reasonOf(yield* Effect.exit(Connection.startTls(plain)))
      assert.strictEqual(reason._tag, "TlsFailure")
      assert.strictEqual(LineServer.tlsSent(rec), "")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  for (
    const [cert, kind] of [
      ["selfSigned", "CertificateUntrusted"],
      ["wrongName", "HostnameMismatch"],
      ["expired", "CertificateExpired"]
    ] as const
  ) {
    it.live(`S5: ${cert} certificate → TlsFailure ${kind}, nothing sent over TLS`, () => {
      const { rec, layer } = withServer({ cert })
      return Effect.gen(function*() {
        const plain = yield* Connection.connect(LineDialect.dialect, options)
        const reason = reasonOf(yield* Effect.exit(Connection.startTls(plain)))
        assert.strictEqual(reason._tag, "TlsFailure")
        if (reason._tag === "TlsFailure") {
          assert.strictEqual(reason.kind, kind)
          assert.strictEqual(reason.host, "localhost")
        }
        assert.strictEqual(LineServer.tlsSent(rec), "")
      }).pipe(Effect.scoped, Effect.provide(layer))
    })
  }

  it.live("S5: the dangerous option accepts a self-signed certificate and emits an event", () => {
    const { layer } = withServer({ cert: "selfSigned" })
    const events: Array<SecurityEvents.SecurityEvent> = []
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, {
        ...options,
        tls: { dangerouslyAcceptInvalidCertificates: true }
      })
      const secure = yield* Connection.startTls(plain)
      assert.isFalse(Connection.tlsSession(secure)!.verified)
      assert.deepStrictEqual(events.map((e) => e._tag), ["CertificateVerificationDisabled"])
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(layer, SecurityEvents.layer((e) => Effect.sync(() => events.push(e)))))
    )
  })

  it.live("pinning: a matching pin passes, another pin fails with PinMismatch", () => {
    const { layer } = withServer({})
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const secure = yield* Connection.startTls(plain)
      const pin = Connection.tlsSession(secure)!.peerSpkiSha256!
      const pinned = yield* Connection.connect(LineDialect.dialect, { ...options, tls: { ...options.tls, pinnedSha256: [pin] } })
      yield* Connection.startTls(pinned)
      const wrong = yield* Connection.connect(LineDialect.dialect, {
        ...options,
        tls: { ...options.tls, pinnedSha256: ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] }
      })
      const reason = reasonOf(yield* Effect.exit(Connection.startTls(wrong)))
      assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, "PinMismatch")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("S1: STARTTLS refused → StartTlsRejected, retryable for a temporary refusal", () =>
    Effect.gen(function*() {
      for (const [reply, retryable] of [["-ERR no TLS today", false], ["-TEMP try later", true]] as const) {
        const { rec, layer } = withServer({ startTlsReply: reply })
        const reason = yield* Effect.exit(
          Connection.secure(LineDialect.dialect, options).pipe(Effect.scoped, Effect.provide(layer))
        ).pipe(Effect.map(reasonOf))
        assert.strictEqual(reason._tag, "StartTlsRejected")
        if (reason._tag === "StartTlsRejected") {
          assert.strictEqual(reason.retryable, retryable)
          assert.strictEqual(reason.untrustedReply, reply)
          assert.notInclude(reason.message, reply.slice(5))
        }
        assert.strictEqual(LineServer.plaintextSent(rec), "STARTTLS\r\n")
      }
    }))

  it.live("S4: a failed capability re-query after TLS is an error, never the plaintext set", () => {
    const { layer } = withServer({ plainCaps: ["STARTTLS", "AUTH=PLAIN"], tlsCapaReply: "-ERR nope" })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const reason = reasonOf(yield* Effect.exit(Connection.startTls(plain)))
      assert.strictEqual(reason._tag, "CapabilitiesUnavailable")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("S6: a pre-authenticated greeting on plaintext fails; over implicit TLS it is Authenticated", () =>
    Effect.gen(function*() {
      const plainServer = withServer({ greeting: "+PREAUTH [CAPS ECHO] welcome" })
      const reason = yield* Effect.exit(
        Connection.connect(LineDialect.dialect, options).pipe(Effect.scoped, Effect.provide(plainServer.layer))
      ).pipe(Effect.map(reasonOf))
      assert.strictEqual(reason._tag, "PreauthOnPlaintext")
      assert.deepStrictEqual(plainServer.rec.chunks, [])

      const tlsServer = withServer({ implicitTls: true, greeting: "+PREAUTH [CAPS ECHO] welcome" })
      const connection = yield* Connection.connectTls(LineDialect.dialect, options).pipe(
        Effect.provide(tlsServer.layer)
      )
      assert.strictEqual(connection.state, "Authenticated")
      assert.deepStrictEqual(connection.session.capabilities, ["ECHO"])
    }).pipe(Effect.scoped))

  it.live("implicit TLS on a port that speaks plaintext → SecurityModeMismatch", () => {
    const { layer } = withServer({})
    return Effect.gen(function*() {
      const reason = reasonOf(yield* Effect.exit(Connection.connectTls(LineDialect.dialect, options)))
      assert.strictEqual(reason._tag, "SecurityModeMismatch")
      if (reason._tag === "SecurityModeMismatch") assert.strictEqual(reason.serverSpeaks, "plaintext")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("S9: a silent server fails the greeting with a Timeout naming the phase", () => {
    const { layer } = withServer({ silent: true })
    return Effect.gen(function*() {
      const reason = reasonOf(
        yield* Effect.exit(
          Connection.connect(LineDialect.dialect, { ...options, port: 9993, timeouts: { greeting: 50 } })
        )
      )
      assert.strictEqual(reason._tag, "Timeout")
      if (reason._tag === "Timeout") {
        assert.strictEqual(reason.phase, "greeting")
        assert.include(reason.hint ?? "", "implicit TLS")
      }
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("security mode from the port: the dialect's implicit-TLS port starts TLS first", () => {
    const { rec, layer } = withServer({ implicitTls: true, greeting: "+OK [CAPS AUTH=PLAIN] secure" })
    return Effect.gen(function*() {
      const connection = yield* Connection.secure(LineDialect.dialect, { ...options, port: 9993 })
      assert.strictEqual(connection.state, "Secure")
      assert.isTrue(rec.tlsStarted)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("TlsPolicy.implicitTls makes implicit TLS the default whatever the port", () => {
    const { layer } = withServer({ implicitTls: true })
    return Effect.gen(function*() {
      const connection = yield* Connection.secure(LineDialect.dialect, options)
      assert.strictEqual(connection.state, "Secure")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(layer, TlsPolicy.implicitTls)))
  })

  it.live("opportunistic (dangerous): STARTTLS missing → stays Plain with a Downgrade event", () => {
    const { rec, layer } = withServer({ plainCaps: ["AUTH=PLAIN"] })
    const events: Array<SecurityEvents.SecurityEvent> = []
    return Effect.gen(function*() {
      const connection = yield* Connection.opportunistic(LineDialect.dialect, options)
      assert.strictEqual(connection.state, "Plain")
      assert.deepStrictEqual(events.map((e) => e._tag), ["Downgrade"])
      assert.strictEqual(LineServer.plaintextSent(rec), "CAPA\r\n")
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(
        layer,
        TlsPolicy.opportunisticStartTlsDangerously,
        SecurityEvents.layer((e) => Effect.sync(() => events.push(e)))
      ))
    )
  })

  it.live("opportunistic still upgrades when STARTTLS is offered, and still fails closed on injection", () =>
    Effect.gen(function*() {
      const ok = withServer({})
      const upgraded = yield* Connection.opportunistic(LineDialect.dialect, options).pipe(Effect.provide(ok.layer))
      assert.strictEqual(upgraded.state, "Secure")
      const bad = withServer({ injectSameWrite: new TextEncoder().encode("+OK CAPS X\r\n") })
      const reason = yield* Effect.exit(Connection.opportunistic(LineDialect.dialect, options)).pipe(
        Effect.provide(bad.layer),
        Effect.map(reasonOf)
      )
      assert.strictEqual(reason._tag, "StartTlsInjection")
    }).pipe(Effect.scoped, Effect.provide(TlsPolicy.opportunisticStartTlsDangerously)))

  it.live("close sends the goodbye and makes every handle stale", () => {
    const { rec, layer } = withServer({})
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      yield* Connection.close(secure)
      assert.strictEqual(Connection.runtimeState(secure), "Closed")
      assert.strictEqual(LineServer.tlsSent(rec), "CAPA\r\nQUIT\r\n")
      const reason = reasonOf(yield* Effect.exit(Connection.capabilities(secure)))
      assert.strictEqual(reason._tag, "StaleConnection")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("limits: an endless line fails with LimitExceeded naming maxLineLength", () => {
    const { layer } = withServer({ greeting: "+OK " + "x".repeat(5000) })
    return Effect.gen(function*() {
      const reason = reasonOf(
        yield* Effect.exit(Connection.connect(LineDialect.dialect, { ...options, limits: { maxLineLength: 1024 } }))
      )
      assert.strictEqual(reason._tag, "LimitExceeded")
      if (reason._tag === "LimitExceeded") assert.strictEqual(reason.limit, "maxLineLength")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})

describe("STARTTLS hygiene", () => {
  it.live("A19: while the STARTTLS reply is delayed the client writes nothing, even when asked to", () => {
    const { rec, layer } = withServer({ startTlsDelayMs: 200 })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const upgrading = yield* Effect.forkChild(Connection.startTls(plain))
      yield* Effect.sleep("20 millis")
      assert.strictEqual(Connection.runtimeState(plain), "Upgrading")
      // Another fiber tries to use the connection meanwhile: it waits for the lock, then finds its handle stale.
      const meanwhile = yield* Effect.forkChild(Effect.exit(Connection.queryCapabilities(plain)))
      const secure = yield* Fiber.join(upgrading)
      const reason = reasonOf(yield* Fiber.join(meanwhile))
      assert.strictEqual(reason._tag, "StaleConnection")
      assert.strictEqual(LineServer.plaintextSent(rec), "STARTTLS\r\n")
      assert.isTrue(rec.tlsStarted)
      assert.strictEqual(rec.tlsError, undefined)
      assert.strictEqual(secure.state, "Secure")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("property: any non-empty suffix after the STARTTLS reply, any chunking → injection or TLS error", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 64 }),
          fc.array(fc.nat(), { maxLength: 4 }),
          async (suffix, cuts) => {
            const reply = new TextEncoder().encode("+OK begin TLS\r\n")
            const all = new Uint8Array(reply.length + suffix.length)
            all.set(reply)
            all.set(suffix, reply.length)
            const points = [...new Set(cuts.map((c) => 1 + (c % (all.length - 1))))].sort((a, b) => a - b)
            const writes: Array<Uint8Array> = []
            let start = 0
            for (const p of points) {
              writes.push(all.subarray(start, p))
              start = p
            }
            writes.push(all.subarray(start))
            const { rec, layer } = withServer({ startTlsWrites: writes })
            const exit = await Effect.runPromise(
              Effect.exit(
                Effect.gen(function*() {
                  const plain = yield* Connection.connect(LineDialect.dialect, { ...options, timeouts: { handshake: 300 } })
                  return yield* Connection.startTls(plain)
                }).pipe(Effect.scoped, Effect.provide(layer))
              )
            )
            const reason = reasonOf(exit)
            // A suffix that looks like the start of a TLS record makes OpenSSL wait for the rest:
            // then the handshake deadline ends it.
            const handshakeTimeout = reason._tag === "Timeout" && reason.phase === "handshake"
            if (reason._tag !== "StartTlsInjection" && reason._tag !== "TlsFailure" && !handshakeTimeout) {
              throw new Error(`unexpected ${reason._tag}: ${reason.message}`)
            }
            // Nothing was sent over TLS: the post-TLS parser never ran.
            if (LineServer.tlsSent(rec) !== "") throw new Error("client spoke over TLS")
          }
        ),
        { numRuns: 40 }
      )
    ))
})

describe("wire trace", () => {
  it.live("traces every line in and out, with secrets masked by the encoder", () => {
    const { layer } = withServer({ users: { alice: "s3cret" } })
    const lines: Array<string> = []
    const collector = Logger.make((o) => {
      lines.push((o.message as ReadonlyArray<unknown>).map(String).join(" "))
    })
    const secret = Redacted.make(new TextEncoder().encode("\0alice\0s3cret"))
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      const session = secure.session
      const start = session.protocol.sasl.start("PLAIN", secret)
      yield* session.wire.write(start.bytes, start.trace)
      const reply = yield* session.wire.next("authenticate")
      assert.match(reply, /^\+OK \[CAPS/)
      const joined = lines.join("\n")
      assert.include(joined, "C: STARTTLS")
      assert.include(joined, "S: +OK begin TLS\\r\\n")
      assert.include(joined, "C: CAPA")
      assert.include(joined, "C: AUTH PLAIN ***")
      assert.notInclude(joined, "s3cret")
      assert.notInclude(joined, Buffer.from("\0alice\0s3cret").toString("base64"))
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(layer, WireTrace.layer, Logger.layer([collector]))),
      Effect.provideService(References.MinimumLogLevel, "Debug")
    )
  })
})

describe("mutual TLS", () => {
  it.live("a client certificate is presented when configured", () => {
    const { rec, layer } = withServer({ requireClientCert: true })
    return Effect.gen(function*() {
      const missing = reasonOf(yield* Effect.exit(Connection.secure(LineDialect.dialect, options)))
      // TLS 1.3: the server checks the client certificate after the client's handshake completed, so
      // its refusal arrives on the first read, as an alert or a close depending on the server.
      assert.include(["TlsFailure", "TransportFailure"], missing._tag)
      assert.isTrue(rec.tlsError !== undefined)
      const secure = yield* Connection.secure(LineDialect.dialect, {
        ...options,
        tls: {
          ...options.tls,
          clientCertificate: { cert: LineServer.certs.client.cert, key: Redacted.make(LineServer.certs.client.key) }
        }
      })
      assert.strictEqual(secure.state, "Secure")
      assert.strictEqual(rec.peerCertificateSubject, "CN=testkit client")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})

describe("authenticate", () => {
  const alice = Credentials.password({ username: "alice", password: Redacted.make("s3cret") })

  it.live("over TLS: strongest common mechanism, SASL initial response, capabilities from the success", () => {
    const { rec, layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR"] })
    return Effect.gen(function*() {
      const secure = yield* Connection.startTls(yield* Connection.connect(LineDialect.dialect, options))
      const authed = yield* Connection.authenticate(secure, alice)
      assert.strictEqual(authed.state, "Authenticated")
      assert.deepStrictEqual(authed.session.capabilities, ["ECHO", "AUTHED"])
      assert.strictEqual(
        LineServer.tlsSent(rec),
        `CAPA\r\nAUTH PLAIN ${Buffer.from("\0alice\0s3cret").toString("base64")}\r\n`
      )
      const stale = reasonOf(yield* Effect.exit(Connection.authenticate(secure, alice)))
      assert.strictEqual(stale._tag, "StaleConnection")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("without SASL-IR the initial response waits for the server's empty challenge", () => {
    const { rec, layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN"] })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      yield* Connection.authenticate(secure as LineConnection<"Secure">, alice)
      assert.strictEqual(
        LineServer.tlsSent(rec),
        `CAPA\r\nAUTH PLAIN\r\n${Buffer.from("\0alice\0s3cret").toString("base64")}\r\n`
      )
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("a rejected password is AuthenticationFailed, the server text kept apart as untrusted", () => {
    const { layer } = withServer({ users: { alice: "other" }, tlsCaps: ["AUTH=PLAIN", "SASL-IR"] })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      const reason = reasonOf(yield* Effect.exit(Connection.authenticate(secure as LineConnection<"Secure">, alice)))
      assert.strictEqual(reason._tag, "AuthenticationFailed")
      if (reason._tag === "AuthenticationFailed") {
        assert.strictEqual(reason.mechanism, "PLAIN")
        assert.strictEqual(reason.untrustedReply, "authentication failed")
        assert.notInclude(reason.message, "s3cret")
      }
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("no common mechanism → NoUsableMechanism, nothing sent", () => {
    const { rec, layer } = withServer({ tlsCaps: ["AUTH=GSSAPI"] })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      const reason = reasonOf(yield* Effect.exit(Connection.authenticate(secure as LineConnection<"Secure">, alice)))
      assert.strictEqual(reason._tag, "NoUsableMechanism")
      if (reason._tag === "NoUsableMechanism") assert.deepStrictEqual(reason.offered, ["GSSAPI"])
      assert.strictEqual(LineServer.tlsSent(rec), "CAPA\r\n")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("the caller's restriction is honoured", () => {
    const { layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN"] })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      const reason = reasonOf(
        yield* Effect.exit(Connection.authenticate(secure as LineConnection<"Secure">, alice, { mechanisms: ["SCRAM-SHA-256"] }))
      )
      assert.strictEqual(reason._tag, "NoUsableMechanism")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("S2: on Plain only with the dangerous layer, with a warning event", () => {
    const { rec, layer } = withServer({ users: { alice: "s3cret" }, plainCaps: ["AUTH=PLAIN", "SASL-IR"] })
    const events: Array<SecurityEvents.SecurityEvent> = []
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      const authed = yield* Connection.authenticate(plain, alice)
      assert.strictEqual(authed.state, "Authenticated")
      assert.deepStrictEqual(events.map((e) => e._tag), ["PlaintextAuthentication"])
      assert.include(LineServer.plaintextSent(rec), "AUTH PLAIN ")
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(
        layer,
        TlsPolicy.allowPlaintextAuthDangerously,
        SecurityEvents.layer((e) => Effect.sync(() => events.push(e)))
      ))
    )
  })

  it.live("OAuth tokens are fetched at authentication time (so they can be refreshed)", () => {
    const { layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN", "AUTH=XOAUTH2", "SASL-IR"] })
    let fetched = 0
    const token = Effect.sync(() => {
      fetched++
      return Redacted.make("tok")
    })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      assert.strictEqual(fetched, 0)
      // the LINE server only knows PLAIN, so XOAUTH2 is refused: but the token was fetched for it
      const reason = reasonOf(
        yield* Effect.exit(
          Connection.authenticate(secure as LineConnection<"Secure">, Credentials.oauth2({ username: "alice", token }))
        )
      )
      assert.strictEqual(fetched, 1)
      assert.strictEqual(reason._tag, "AuthenticationFailed")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})

describe("SCRAM end to end over real TLS", () => {
  const bob = Credentials.password({ username: "bob", password: Redacted.make("pencil") })
  const caps = ["AUTH=PLAIN", "AUTH=SCRAM-SHA-256", "AUTH=SCRAM-SHA-256-PLUS", "SASL-IR"]

  it.live("SCRAM-SHA-256-PLUS is chosen and bound to this TLS session (tls-exporter)", () => {
    const { rec, layer } = withServer({ scramUsers: { bob: "pencil" }, tlsCaps: caps })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      const authed = yield* Connection.authenticate(secure as LineConnection<"Secure">, bob)
      assert.strictEqual(authed.state, "Authenticated")
      assert.isTrue(rec.channelBindingChecked)
      assert.include(LineServer.tlsSent(rec), "AUTH SCRAM-SHA-256-PLUS ")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("a server that cannot prove it knows the password is refused even though it says OK", () => {
    const { layer } = withServer({ scramUsers: { bob: "pencil" }, tlsCaps: caps, forgeScramSignature: true })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      const reason = reasonOf(yield* Effect.exit(Connection.authenticate(secure as LineConnection<"Secure">, bob)))
      assert.strictEqual(reason._tag, "AuthenticationFailed")
      if (reason._tag === "AuthenticationFailed") assert.strictEqual(reason.code, "ServerSignatureMismatch")
      assert.strictEqual(Connection.runtimeState(secure), "Closed")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("plain SCRAM-SHA-256 when the caller restricts to it", () => {
    const { rec, layer } = withServer({ scramUsers: { bob: "pencil" }, tlsCaps: caps })
    return Effect.gen(function*() {
      const secure = yield* Connection.secure(LineDialect.dialect, options)
      yield* Connection.authenticate(secure as LineConnection<"Secure">, bob, { mechanisms: ["SCRAM-SHA-256"] })
      assert.isFalse(rec.channelBindingChecked)
      assert.include(LineServer.tlsSent(rec), "AUTH SCRAM-SHA-256 ")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})

describe("session", () => {
  it.live("connect, STARTTLS and authenticate in one call", () => {
    const { rec, layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN", "SASL-IR"] })
    return Effect.gen(function*() {
      const authed = yield* Connection.session(LineDialect.dialect, {
        ...options,
        credentials: Credentials.password({ username: "alice", password: Redacted.make("s3cret") })
      })
      assert.strictEqual(authed.state, "Authenticated")
      assert.strictEqual(LineServer.plaintextSent(rec), "STARTTLS\r\n")
      assert.strictEqual(yield* Connection.exchange(authed.session, LineDialect.echo("after auth")), "after auth")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})
