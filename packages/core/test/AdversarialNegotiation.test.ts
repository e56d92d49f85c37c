/**
 * The negotiation engine against a hostile server (ATTACKS.md §3.5-3.6), protocol-independent: the
 * LINE test dialect, in both shapes (STARTTLS straight after the greeting, and capabilities first,
 * like SMTP's EHLO), against a server whose every answer is drawn at random.
 *
 * For every script: the client either ends Secure with exactly the capabilities the server sent over
 * TLS, or fails with the typed `MailError` the script calls for (never a defect, never a hang); the
 * plaintext it wrote is exactly the negotiation commands; after its STARTTLS line it wrote nothing
 * but TLS records; credentials never left it in plaintext; and closing its scope closed the socket.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { rootCertificates } from "node:tls"
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as S from "./AdversarialServer.ts"
import * as LineDialect from "./LineDialect.ts"
import * as LineServer from "./LineServer.ts"

type Caps = LineDialect.Caps
type Secure = Connection.Connection<"Secure", string, Caps>

const alice = Credentials.password({ username: S.secret.username, password: Redacted.make(S.secret.password) })

const timeouts = { connect: 500, greeting: 150, command: 150, handshake: 600 }
// Every wait of a run, plus slack for a busy machine: a run that takes longer hangs.
const runBound = timeouts.greeting + 4 * timeouts.command + timeouts.handshake + 2_000

// ---------------------------------------------------------------------------------------------------
// The script model
// ---------------------------------------------------------------------------------------------------

type Step =
  | { readonly kind: "ok"; readonly text: string }
  | { readonly kind: "bad"; readonly text: string }
  | { readonly kind: "silent" }
  | { readonly kind: "close" }

type Greeting =
  | { readonly kind: "ok"; readonly caps: Caps | undefined }
  | { readonly kind: "preauth" }
  | { readonly kind: "err" }
  | { readonly kind: "garbage"; readonly bytes: Uint8Array }
  | { readonly kind: "tlsRecord"; readonly bytes: Uint8Array }
  | { readonly kind: "silent" }
  | { readonly kind: "close" }

type StartTlsReply =
  | {
    readonly kind: "positive"
    readonly text: string
    readonly delayMs: number
    readonly suffix: { readonly where: "same" | "later"; readonly bytes: Uint8Array; readonly delayMs: number } | undefined
  }
  | { readonly kind: "negative"; readonly temporary: boolean }
  | { readonly kind: "odd"; readonly text: string }
  | { readonly kind: "garbage"; readonly bytes: Uint8Array }
  | { readonly kind: "silent" }
  | { readonly kind: "close" }

type CertName = "localhost" | "selfSigned" | "wrongName" | "expired"

interface Scenario {
  readonly capsFirst: boolean
  readonly greeting: Greeting
  readonly cuts: ReadonlyArray<number>
  readonly plainCapa: Step & { readonly caps?: Caps }
  readonly startTls: StartTlsReply
  readonly after: S.AfterStartTls
  readonly cert: CertName
  readonly tlsCaps: Caps
  readonly tlsCapa: Step
  readonly auth: Step
}

const plainCap = fc.constantFrom("STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "SASL-IR", "P-EVIL", "IDLE")
const tlsCap = fc.constantFrom("AUTH=PLAIN", "SASL-IR", "T-ECHO", "T-SECRET-ONLY", "AUTH=GSSAPI")
const caps = (cap: fc.Arbitrary<string>) => fc.uniqueArray(cap, { maxLength: 5 })

// Bytes that can start no valid LINE reply and no TLS record ('+', '-', 0x15, 0x16 excluded).
const garbage = fc.tuple(
  fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x2b && b !== 0x2d && b !== 0x15 && b !== 0x16),
  fc.uint8Array({ maxLength: 40 })
).map(([first, rest]) => Uint8Array.of(first, ...rest))

const greeting: fc.Arbitrary<Greeting> = fc.oneof(
  { weight: 8, arbitrary: fc.option(caps(plainCap), { nil: undefined }).map((c) => ({ kind: "ok" as const, caps: c })) },
  { weight: 1, arbitrary: fc.constant({ kind: "preauth" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "err" as const }) },
  { weight: 1, arbitrary: garbage.map((bytes) => ({ kind: "garbage" as const, bytes })) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 30 }).map((rest) => ({
      kind: "tlsRecord" as const,
      bytes: Uint8Array.of(0x16, 0x03, 0x01, ...rest)
    }))
  },
  { weight: 1, arbitrary: fc.constant({ kind: "silent" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "close" as const }) }
)

const step = (ok: fc.Arbitrary<string>, bad: fc.Arbitrary<string>): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 6, arbitrary: ok.map((text) => ({ kind: "ok" as const, text })) },
    { weight: 2, arbitrary: bad.map((text) => ({ kind: "bad" as const, text })) },
    { weight: 1, arbitrary: fc.constant({ kind: "silent" as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: "close" as const }) }
  )

const printable = fc.string({ unit: fc.constantFrom(..."abcXYZ 019[]*+-=".split("")), maxLength: 12 })

const startTlsReply: fc.Arbitrary<StartTlsReply> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("positive" as const),
      text: printable.map((t) => `+OK ${t}`),
      delayMs: fc.constantFrom(0, 0, 20),
      suffix: fc.option(
        fc.record({
          where: fc.constantFrom("same" as const, "later" as const),
          bytes: fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 40 }),
            fc.constantFrom("+OK CAPS AUTH=PLAIN P-EVIL\r\n", "+OK [CAPS ECHO] welcome\r\n").map(S.bytes)
          ),
          delayMs: fc.constantFrom(0, 5)
        }),
        { nil: undefined, freq: 3 }
      )
    })
  },
  { weight: 2, arbitrary: fc.boolean().map((temporary) => ({ kind: "negative" as const, temporary })) },
  { weight: 1, arbitrary: fc.constantFrom("* hello", "+ go", "OK", "", "+O").map((text) => ({ kind: "odd" as const, text })) },
  { weight: 1, arbitrary: garbage.map((bytes) => ({ kind: "garbage" as const, bytes })) },
  { weight: 1, arbitrary: fc.constant({ kind: "silent" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "close" as const }) }
)

const scenario: fc.Arbitrary<Scenario> = fc.record({
  capsFirst: fc.boolean(),
  greeting,
  cuts: fc.array(fc.nat({ max: 60 }), { maxLength: 3 }),
  plainCapa: fc.oneof(
    { weight: 5, arbitrary: caps(plainCap).map((c) => ({ kind: "ok" as const, text: "", caps: c })) },
    { weight: 1, arbitrary: fc.constant({ kind: "bad" as const, text: "-ERR no" }) },
    { weight: 1, arbitrary: fc.constant({ kind: "silent" as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: "close" as const }) }
  ),
  startTls: startTlsReply,
  after: fc.constantFrom<S.AfterStartTls>("tls", "tls", "tls", "tls", "tls", "tls", "tls", "close", "silent"),
  cert: fc.constantFrom<CertName>("localhost", "localhost", "localhost", "localhost", "localhost", "selfSigned", "wrongName", "expired"),
  tlsCaps: caps(tlsCap),
  tlsCapa: step(fc.constant(""), fc.constantFrom("-ERR no", "* what", "+OKAY", "")),
  auth: step(fc.constant("+OK [CAPS ECHO AUTHED] welcome"), fc.constantFrom("-ERR denied", "* what"))
})

// ---------------------------------------------------------------------------------------------------
// Script → server, and the oracle
// ---------------------------------------------------------------------------------------------------

const concat = (...parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))

/** `data` cut at `cuts` into separate writes. */
const split = (data: Uint8Array, cuts: ReadonlyArray<number>): S.Reply => {
  const points = [...new Set(cuts.map((c) => c % Math.max(1, data.length)).filter((c) => c > 0))].sort((a, b) => a - b)
  const writes: Array<S.Write> = []
  let start = 0
  for (const p of points) {
    writes.push({ bytes: data.subarray(start, p), delayMs: 0 })
    start = p
  }
  writes.push({ bytes: data.subarray(start), delayMs: 0 })
  return { _tag: "Send", writes, close: false }
}

const capsText = (c: Caps | undefined) => (c === undefined ? "" : `[CAPS ${c.join(" ")}] `)

const stepReply = (s: Step, okText: string): S.Reply => {
  switch (s.kind) {
    case "ok":
      return S.send(`${okText}\r\n`)
    case "bad":
      return S.send(`${s.text}\r\n`)
    case "silent":
      return S.silent
    case "close":
      return S.close
  }
}

const toScript = (sc: Scenario): S.Script => {
  const g = sc.greeting
  const greetingReply: S.Reply = g.kind === "silent"
    ? S.silent
    : g.kind === "close"
    ? S.close
    : split(
      g.kind === "ok"
        ? S.bytes(`+OK ${capsText(g.caps)}hello\r\n`)
        : g.kind === "preauth"
        ? S.bytes("+PREAUTH [CAPS ECHO] welcome\r\n")
        : g.kind === "err"
        ? S.bytes("-ERR go away, call 555-0100\r\n")
        : g.bytes,
      sc.cuts
    )
  const t = sc.startTls
  const startTls: S.Reply = (() => {
    switch (t.kind) {
      case "positive": {
        const reply = S.bytes(`${t.text}\r\n`)
        if (t.suffix === undefined) return { _tag: "Send", writes: [{ bytes: reply, delayMs: t.delayMs }], close: false }
        if (t.suffix.where === "same") {
          return { _tag: "Send", writes: [{ bytes: concat(reply, t.suffix.bytes), delayMs: t.delayMs }], close: false }
        }
        return {
          _tag: "Send",
          writes: [{ bytes: reply, delayMs: t.delayMs }, { bytes: t.suffix.bytes, delayMs: t.suffix.delayMs }],
          close: false
        }
      }
      case "negative":
        return S.send(t.temporary ? "-TEMP later\r\n" : "-ERR no TLS, visit http://attacker.example/\r\n")
      case "odd":
        return S.send(`${t.text}\r\n`)
      case "garbage":
        return S.send(t.bytes)
      case "silent":
        return S.silent
      case "close":
        return S.close
    }
  })()
  const p = sc.plainCapa
  return {
    greeting: greetingReply,
    plainCapa: p.kind === "ok" ? S.send(`+OK CAPS ${(p.caps ?? []).join(" ")}\r\n`) : stepReply(p, ""),
    startTls,
    afterStartTls: sc.after,
    cert: LineServer.certs[sc.cert],
    tlsCapa: stepReply(sc.tlsCapa, `+OK CAPS ${sc.tlsCaps.join(" ")}`),
    auth: stepReply(sc.auth, "+OK [CAPS ECHO AUTHED] welcome")
  }
}

/** What may happen: `"Secure"` or an error key (`Tag`, or `Tag:phase` for timeouts and transport failures). */
interface Expected {
  readonly outcomes: ReadonlySet<string>
  /** The plaintext the client must have written (a prefix of it, if it stopped early). */
  readonly plaintext: string
  /** Whether a positive STARTTLS reply (without injection) makes the client start TLS. */
  readonly tlsStarts: boolean
}

const keyOf = (reason: MailError.MailErrorReason): string =>
  reason._tag === "Timeout" || reason._tag === "TransportFailure" ? `${reason._tag}:${reason.phase}` : reason._tag

const expected = (sc: Scenario): Expected => {
  const g = sc.greeting
  const askCaps = sc.capsFirst && (g.kind !== "ok" || g.caps === undefined)
  const plaintext = `${askCaps ? "CAPA\r\n" : ""}STARTTLS\r\n`
  const done = (...outcomes: ReadonlyArray<string>): Expected => ({ outcomes: new Set(outcomes), plaintext, tlsStarts: false })
  switch (g.kind) {
    case "close":
      return done("TransportFailure:greeting")
    case "silent":
      return done("Timeout:greeting")
    case "tlsRecord":
      return done("SecurityModeMismatch")
    case "garbage":
      return done("ProtocolViolation", "Timeout:greeting")
    case "err":
      return done("GreetingRejected")
    case "preauth":
      return done("PreauthOnPlaintext")
    case "ok":
      break
  }
  if (sc.capsFirst) {
    const known = g.caps ?? (sc.plainCapa.kind === "ok" ? sc.plainCapa.caps ?? [] : undefined)
    if (known === undefined) {
      switch (sc.plainCapa.kind) {
        case "bad":
          return done("ProtocolViolation")
        case "silent":
          return done("Timeout:capabilities")
        case "close":
          return done("TransportFailure:capabilities")
      }
    } else if (!known.includes("STARTTLS")) {
      return done("StartTlsUnavailable")
    }
  }
  const t = sc.startTls
  switch (t.kind) {
    case "silent":
      return done("Timeout:starttls")
    case "close":
      return done("TransportFailure:starttls")
    case "negative":
      return done("StartTlsRejected")
    case "odd":
      return done("ProtocolViolation")
    case "garbage":
      // No complete line: the server's next move decides.
      return done("ProtocolViolation", sc.after === "close" ? "TransportFailure:starttls" : "Timeout:starttls")
    case "positive":
      break
  }
  const started = (...outcomes: ReadonlyArray<string>): Expected => ({ outcomes: new Set(outcomes), plaintext, tlsStarts: true })
  if (t.suffix?.where === "same") return done("StartTlsInjection")
  if (t.suffix !== undefined) {
    // Coalesced with the reply by the time it is read: injection; otherwise it reaches OpenSSL.
    return started("StartTlsInjection", "TlsFailure", "Timeout:handshake")
  }
  if (sc.after === "silent") return started("Timeout:handshake")
  if (sc.after === "close") return started("TlsFailure")
  if (sc.cert !== "localhost") return started("TlsFailure")
  switch (sc.tlsCapa.kind) {
    case "ok":
      return started("Secure")
    case "bad":
      return started("CapabilitiesUnavailable")
    case "silent":
      return started("Timeout:capabilities")
    case "close":
      return started("TransportFailure:capabilities")
  }
}

const expectedAuth = (sc: Scenario): ReadonlySet<string> => {
  if (!sc.tlsCaps.includes("AUTH=PLAIN")) return new Set(["NoUsableMechanism"])
  switch (sc.auth.kind) {
    case "ok":
      return new Set(["Authenticated"])
    case "bad":
      return new Set(sc.auth.text.startsWith("-ERR") ? ["AuthenticationFailed"] : ["ProtocolViolation"])
    case "silent":
      return new Set(["Timeout:authenticate"])
    case "close":
      return new Set(["TransportFailure:authenticate"])
  }
}

// ---------------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------------

// Text the hostile server puts in its greetings and refusals (S10: never shown as trusted).
const serverText = ["555-0100", "attacker.example", "go away"]

class Violation extends Error {}

const check = (condition: boolean, message: string) => {
  if (!condition) throw new Violation(message)
}

/** The `MailError` reason of a failed exit; a defect, an interruption or a foreign error is a violation. */
const typedReason = <A>(exit: Exit.Exit<A, MailError.MailError>, what: string): MailError.MailErrorReason => {
  if (Exit.isSuccess(exit)) throw new Violation(`${what}: expected a failure`)
  const fail = exit.cause.reasons.find(Cause.isFailReason)
  if (fail === undefined || exit.cause.reasons.some((r) => !Cause.isFailReason(r))) {
    throw new Violation(`${what}: not a typed failure: ${Cause.pretty(exit.cause)}`)
  }
  check(fail.error._tag === "MailError", `${what}: not a MailError`)
  return fail.error.reason
}

interface Observed {
  readonly secured: Exit.Exit<Connection.Connection<"Secure" | "Authenticated", string, Caps>, MailError.MailError>
  readonly state: Connection.RuntimeState | undefined
  readonly capabilities: Caps | undefined
  readonly plaintextCapabilities: Caps | undefined
  readonly verified: boolean | undefined
  readonly auth: Exit.Exit<Connection.Connection<"Authenticated", string, Caps>, MailError.MailError> | undefined
  readonly authedCaps: Caps | undefined
}

const runScenario = (sc: Scenario): Effect.Effect<void> =>
  Effect.gen(function*() {
    const rec = S.newRecording()
    const dialect = sc.capsFirst ? S.capsFirst : LineDialect.dialect
    const start = yield* Clock.currentTimeMillis
    const observed = yield* Effect.gen(function*() {
      const secured = yield* Effect.exit(Connection.secure(dialect, { ...S.options, timeouts }))
      if (Exit.isFailure(secured)) {
        return {
          secured,
          state: undefined,
          capabilities: undefined,
          plaintextCapabilities: undefined,
          verified: undefined,
          auth: undefined,
          authedCaps: undefined
        } satisfies Observed
      }
      const connection = secured.value
      const session = connection.session
      const snapshot = {
        state: Connection.runtimeState(connection),
        capabilities: session.capabilities,
        plaintextCapabilities: session.plaintextCapabilities,
        verified: Connection.tlsSession(connection)?.verified
      }
      const auth = yield* Effect.exit(Connection.authenticate(connection as Secure, alice))
      return {
        secured,
        ...snapshot,
        auth,
        authedCaps: Exit.isSuccess(auth) ? auth.value.session.capabilities : undefined
      } satisfies Observed
    }).pipe(
      Effect.scoped,
      Effect.provide(S.layer(toScript(sc), rec)),
      Effect.timeoutOrElse({ duration: runBound, orElse: () => Effect.die(new Violation(`hang: no outcome after ${runBound} ms`)) })
    )
    const elapsed = (yield* Clock.currentTimeMillis) - start
    const ended = yield* S.awaitEnded(rec)
    const exp = expected(sc)
    yield* Effect.sync(() => {
      // 1. outcome of the negotiation
      const outcome = Exit.isSuccess(observed.secured) ? "Secure" : keyOf(typedReason(observed.secured, "secure"))
      check(exp.outcomes.has(outcome), `secure: got ${outcome}, expected one of ${[...exp.outcomes].join(", ")}`)
      if (Exit.isFailure(observed.secured)) {
        // S10: server text received in plaintext is never part of an error message.
        const message = typedReason(observed.secured, "secure").message
        check(!serverText.some((text) => message.includes(text)), `server text in the message: ${message}`)
      }
      if (Exit.isSuccess(observed.secured)) {
        // S4: exactly the capabilities the server sent over TLS, nothing learned in plaintext.
        check(observed.state === "Secure", `state ${observed.state}`)
        check(JSON.stringify(observed.capabilities) === JSON.stringify(sc.tlsCaps), `capabilities ${JSON.stringify(observed.capabilities)}`)
        check(observed.plaintextCapabilities === undefined, "plaintext capabilities kept")
        check(observed.verified === true, "certificate not verified")
        const auth = observed.auth!
        const authOutcome = Exit.isSuccess(auth) ? "Authenticated" : keyOf(typedReason(auth, "authenticate"))
        const expAuth = expectedAuth(sc)
        check(expAuth.has(authOutcome), `authenticate: got ${authOutcome}, expected ${[...expAuth].join(", ")}`)
        if (Exit.isSuccess(auth)) {
          check(JSON.stringify(observed.authedCaps) === JSON.stringify(["ECHO", "AUTHED"]), "capabilities after auth")
        } else {
          check(!S.leaks(auth.cause.toString()), "the secret is in the authentication error")
        }
      }
      // 2. S1/S12: the plaintext is exactly the negotiation; after STARTTLS only TLS records.
      const prefix = S.plaintextPrefix(rec)
      if (rec.startTlsEnd === undefined) {
        check(exp.plaintext.startsWith(prefix) && !prefix.endsWith("STARTTLS\r\n"), `plaintext ${JSON.stringify(prefix)}`)
      } else {
        check(prefix === exp.plaintext, `plaintext before TLS ${JSON.stringify(prefix)}`)
      }
      const after = S.afterStartTls(rec)
      check(S.isTlsRecords(after), `non-TLS bytes after STARTTLS: ${JSON.stringify(Buffer.from(after.subarray(0, 40)).toString("latin1"))}`)
      if (!exp.tlsStarts || outcome === "StartTlsInjection") {
        // S3: nothing was handed to TLS when bytes followed the reply (or no positive reply came).
        check(after.length === 0, `the client started TLS (${after.length} bytes) after ${outcome}`)
      }
      check(!rec.plainLines.some((l) => l.toUpperCase().startsWith("AUTH")), "AUTH in plaintext")
      check(!S.leaks(Buffer.from(S.rawBytes(rec)).toString("latin1")), "credentials on the wire in clear")
      // S4: the first thing said over TLS is the capability query.
      check(rec.tlsLines.length === 0 || rec.tlsLines[0] === "CAPA", `first TLS line ${rec.tlsLines[0]}`)
      // S9: a closed scope closes the socket; every run ended within its deadlines.
      check(ended, "the server never saw the connection close")
      check(elapsed < runBound, `took ${elapsed} ms`)
    })
  })

describe("hostile server, any protocol (LINE)", () => {
  it.live("property: Secure with the post-TLS capabilities exactly, or the typed error the script calls for", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(scenario, (sc) => Effect.runPromise(runScenario(sc))),
        { numRuns: 60 }
      )
    ), 60_000)

  it.live("a greeting that pre-answers STARTTLS, then the real reply: never Secure, nothing but TLS after STARTTLS", () =>
    Effect.gen(function*() {
      for (const extra of ["+OK begin TLS\r\n", "* junk\r\n", "+OK CAPS STARTTLS\r\n"]) {
        for (const dialect of [LineDialect.dialect, S.capsFirst]) {
          const rec = S.newRecording()
          const exit = yield* Effect.exit(
            Connection.secure(dialect, { ...S.options, timeouts }).pipe(
              Effect.scoped,
              Effect.provide(S.layer({ greeting: S.send(`+OK hello\r\n${extra}`) }, rec))
            )
          )
          const reason = typedReason(exit, `pre-answer ${JSON.stringify(extra)}`)
          assert.include(["TlsFailure", "ProtocolViolation", "StartTlsInjection", "CapabilitiesUnavailable"], reason._tag)
          assert.isTrue(S.isTlsRecords(S.afterStartTls(rec)))
          assert.deepStrictEqual(rec.tlsLines, [])
        }
      }
    }))
})

describe("the wire checks themselves", () => {
  it("isTlsRecords accepts records (a cut last one too) and refuses any plaintext", () => {
    const hello = Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00, 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28)
    assert.isTrue(S.isTlsRecords(new Uint8Array(0)))
    assert.isTrue(S.isTlsRecords(hello))
    assert.isTrue(S.isTlsRecords(hello.subarray(0, 9)))
    for (const text of ["CAPA\r\n", "AUTH PLAIN AGFsaWNl\r\n", "\u0016\u0003\u0001\u0000\u0000CAPA\r\n"]) {
      assert.isFalse(S.isTlsRecords(S.bytes(text)), text)
    }
    assert.isFalse(S.isTlsRecords(Uint8Array.of(0x16, 0x02, 0x01, 0x00, 0x00)))
  })

  it("leaks finds the password in clear or in any base64 form the client could send", () => {
    for (const form of S.secretForms) assert.isTrue(S.leaks(`x ${form} y`))
    assert.isFalse(S.leaks("AUTH PLAIN ***"))
  })
})

describe("wrong security mode, both ways", () => {
  it.live("STARTTLS client, implicit-TLS server (waits for a ClientHello): greeting Timeout with a hint, nothing written", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const reason = reasonOf(
        yield* Effect.exit(Connection.secure(LineDialect.dialect, { ...S.options, timeouts: { greeting: 100 } }))
      )
      assert.strictEqual(keyOf(reason), "Timeout:greeting")
      if (reason._tag === "Timeout") assert.include(reason.hint ?? "", "implicit-tls")
      assert.strictEqual(S.rawBytes(rec).length, 0)
    }).pipe(Effect.scoped, Effect.provide(S.layer({ implicitTls: true, greeting: S.send("+OK [CAPS AUTH=PLAIN] hi\r\n") }, rec)))
  })

  it.live("STARTTLS client, a server that opens with a TLS record: SecurityModeMismatch, nothing written", () => {
    const rec = S.newRecording()
    const serverHello = Uint8Array.of(0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03)
    return Effect.gen(function*() {
      const reason = reasonOf(yield* Effect.exit(Connection.secure(LineDialect.dialect, { ...S.options, timeouts })))
      assert.strictEqual(reason._tag, "SecurityModeMismatch")
      if (reason._tag === "SecurityModeMismatch") {
        assert.strictEqual(reason.clientMode, "starttls")
        assert.strictEqual(reason.serverSpeaks, "implicit-tls")
      }
      assert.strictEqual(S.rawBytes(rec).length, 0)
    }).pipe(Effect.scoped, Effect.provide(S.layer({ greeting: S.send(serverHello) }, rec)))
  })

  it.live("implicit-TLS client, plaintext server that waits, then answers the ClientHello in plaintext: SecurityModeMismatch", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const reason = reasonOf(
        yield* Effect.exit(Connection.connectTls(LineDialect.dialect, { ...S.options, timeouts }))
      )
      assert.strictEqual(reason._tag, "SecurityModeMismatch")
      if (reason._tag === "SecurityModeMismatch") assert.strictEqual(reason.serverSpeaks, "plaintext")
      // The client wrote a ClientHello and nothing else; the server's line was never parsed.
      assert.isTrue(S.rawBytes(rec).length > 0)
      assert.isTrue(S.isTlsRecords(S.rawBytes(rec)))
      assert.isTrue(yield* S.awaitEnded(rec))
    }).pipe(
      Effect.scoped,
      // The server's answer to the client's first "line" (the ClientHello) is a plaintext error.
      Effect.provide(S.layer({ greeting: S.silent, onFirstBytes: S.send("-ERR what\r\n") }, rec))
    )
  })
})

describe("certificates: trust anchors", () => {
  const run = (tls: Connection.Options["tls"], host = "localhost") => {
    const rec = S.newRecording()
    return Effect.exit(
      Effect.gen(function*() {
        const secure = yield* Connection.secure(LineDialect.dialect, { ...S.options, host, tls, timeouts })
        return { secure, tls: Connection.tlsSession(secure) }
      })
    ).pipe(
      Effect.map((exit) => ({ exit, rec })),
      Effect.provide(S.layer({ greeting: S.send("+OK hi\r\n") }, rec))
    )
  }

  it.live("a CA-signed certificate for the right name, but trustOnly another CA → CertificateUntrusted, nothing over TLS", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* run({ trustOnly: [rootCertificates[0]!] })
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, "CertificateUntrusted")
      assert.deepStrictEqual(rec.tlsLines, [])
    }).pipe(Effect.scoped))

  it.live("no trust configuration: the system roots do not know the test CA → CertificateUntrusted", () =>
    Effect.gen(function*() {
      const { exit } = yield* run(undefined)
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, "CertificateUntrusted")
    }).pipe(Effect.scoped))

  it.live("extraCa adds the test CA to the system roots: verified, with SNI = the configured host", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* run({ extraCa: [LineServer.certs.ca] })
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.isTrue(exit.value.tls?.verified)
      assert.strictEqual(rec.servername, "localhost")
    }).pipe(Effect.scoped))

  it.live("extraCa does not relax the name check: the CA's certificate for another name → HostnameMismatch", () =>
    Effect.gen(function*() {
      const rec = S.newRecording()
      const reason = reasonOf(
        yield* Effect.exit(
          Connection.secure(LineDialect.dialect, { ...S.options, tls: { extraCa: [LineServer.certs.ca] }, timeouts }).pipe(
            Effect.provide(S.layer({ greeting: S.send("+OK hi\r\n"), cert: LineServer.certs.wrongName }, rec))
          )
        )
      )
      assert.strictEqual(reason._tag === "TlsFailure" ? reason.kind : reason._tag, "HostnameMismatch")
    }).pipe(Effect.scoped))

  it.live("an IP literal host is verified against the IP SAN and sends no SNI (RFC 6066 §3)", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* run({ trustOnly: [LineServer.certs.ca] }, "127.0.0.1")
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(rec.servername, false)
    }).pipe(Effect.scoped))
})
