/**
 * Handles, fibers and scopes against a careless user: many fibers on one handle while it
 * transitions, scopes closed and fibers interrupted in the middle of every phase, forged and stale
 * handles. The typestate is enforced at run time (exactly one transition wins, everyone else gets
 * `StaleConnection`), commands never interleave on the wire, and a closed scope closes the socket.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as fc from "fast-check"
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as S from "./AdversarialServer.ts"
import * as LineDialect from "./LineDialect.ts"

type Caps = LineDialect.Caps
type Secure = Connection.Connection<"Secure", string, Caps>

const alice = Credentials.password({ username: S.secret.username, password: Redacted.make(S.secret.password) })
const hello = S.send("+OK hello\r\n")
const far = 10_000
const timeouts = { connect: far, greeting: far, handshake: far, command: far }

const tagOf = <A>(exit: Exit.Exit<A, MailError.MailError>): string => Exit.isSuccess(exit) ? "success" : reasonOf(exit)._tag

/** Each received chunk holds whole commands only (no command was cut by another one). */
const wholeCommands = (chunks: ReadonlyArray<string>, command: RegExp) =>
  chunks.every((chunk) => new RegExp(`^(?:(?:${command.source})\\r\\n)+$`).test(chunk))

describe("stale handles under concurrency", () => {
  it.live("property: concurrent STARTTLS and CAPA on one Plain handle: one STARTTLS wins, the rest is stale, nothing interleaves", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom("startTls" as const, "caps" as const), { minLength: 2, maxLength: 10 }).filter((ops) =>
            ops.includes("startTls")
          ),
          (ops) => {
            const rec = S.newRecording()
            const plainCaps = ["STARTTLS", "P-ONLY"]
            const script: S.Script = { greeting: hello, plainCapa: S.send(`+OK CAPS ${plainCaps.join(" ")}\r\n`) }
            return Effect.runPromise(
              Effect.gen(function*() {
                const plain = yield* Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
                const exits = yield* Effect.all(
                  ops.map((op) =>
                    Effect.exit(
                      op === "startTls"
                        ? Effect.map(Connection.startTls(plain), (secure) => secure.session.capabilities)
                        : Connection.queryCapabilities(plain)
                    )
                  ),
                  { concurrency: "unbounded" }
                )
                const startTls = exits.filter((_, i) => ops[i] === "startTls")
                const caps = exits.filter((_, i) => ops[i] === "caps")
                assert.strictEqual(startTls.filter(Exit.isSuccess).length, 1)
                for (const exit of startTls.filter(Exit.isFailure)) assert.strictEqual(tagOf(exit), "StaleConnection")
                for (const exit of startTls.filter(Exit.isSuccess)) {
                  assert.deepStrictEqual(exit.value, ["AUTH=PLAIN", "SASL-IR", "ECHO"])
                }
                const answered = caps.filter(Exit.isSuccess)
                for (const exit of answered) assert.deepStrictEqual(exit.value, plainCaps)
                for (const exit of caps.filter(Exit.isFailure)) assert.strictEqual(tagOf(exit), "StaleConnection")
                assert.strictEqual(Connection.runtimeState(plain), "Secure")
                // On the wire: the CAPAs that were answered, then one STARTTLS, then only TLS.
                assert.deepStrictEqual(rec.plainLines, [...answered.map(() => "CAPA"), "STARTTLS"])
                assert.isTrue(wholeCommands(rec.plainChunks, /CAPA|STARTTLS/))
                assert.isTrue(S.isTlsRecords(S.afterStartTls(rec)))
                assert.deepStrictEqual(rec.tlsLines, ["CAPA"])
              }).pipe(Effect.scoped, Effect.provide(S.layer(script, rec)))
            )
          }
        ),
        { numRuns: 15 }
      )
    ))

  it.live("property: concurrent commands and AUTH on one Secure handle: one AUTH wins, each command gets its own reply", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom("echo" as const, "auth" as const), { minLength: 2, maxLength: 10 }).filter((ops) =>
            ops.includes("auth")
          ),
          fc.constantFrom(0, 1, 3),
          (ops, replyDelay) => {
            const rec = S.newRecording()
            const script: S.Script = { greeting: hello, echo: (a) => S.delayed(replyDelay, `+OK ${a}\r\n`) }
            return Effect.runPromise(
              Effect.gen(function*() {
                const secure = (yield* Connection.secure(LineDialect.dialect, { ...S.options, timeouts })) as Secure
                const exits = yield* Effect.all(
                  ops.map((op, i) =>
                    Effect.exit(
                      op === "auth"
                        ? Effect.map(Connection.authenticate(secure, alice), (authed) => authed.state as string)
                        : Connection.withSession(secure, (session) => Connection.exchange(session, LineDialect.echo(`n${i}`)))
                    )
                  ),
                  { concurrency: "unbounded" }
                )
                const auths = exits.filter((_, i) => ops[i] === "auth")
                assert.strictEqual(auths.filter(Exit.isSuccess).length, 1)
                for (const exit of auths.filter(Exit.isFailure)) assert.strictEqual(tagOf(exit), "StaleConnection")
                let echoed = 0
                exits.forEach((exit, i) => {
                  if (ops[i] !== "echo") return
                  if (Exit.isSuccess(exit)) {
                    // never another command's reply
                    assert.strictEqual(exit.value, `n${i}`)
                    echoed++
                  } else {
                    assert.strictEqual(tagOf(exit), "StaleConnection")
                  }
                })
                const lines = rec.tlsLines.map((l) => l.split(" ")[0])
                assert.strictEqual(lines.filter((l) => l === "ECHO").length, echoed)
                assert.strictEqual(lines.filter((l) => l === "AUTH").length, 1)
                assert.strictEqual(lines[0], "CAPA")
                // Nothing of the losers went out after the winner's AUTH.
                assert.strictEqual(lines.at(-1), "AUTH")
              }).pipe(Effect.scoped, Effect.provide(S.layer(script, rec)))
            )
          }
        ),
        { numRuns: 15 }
      )
    ))
})

interface PhaseRow {
  readonly phase: string
  readonly script: S.Script
  /** The server event that says the client is now waiting in this phase. */
  readonly reached: S.Event
  readonly run: Effect.Effect<unknown, MailError.MailError, S.TransportNeeds>
}

const secure = (dialect = LineDialect.dialect) => Connection.secure(dialect, { ...S.options, timeouts })

const phases: ReadonlyArray<PhaseRow> = [
  {
    phase: "greeting",
    script: { greeting: S.silent },
    reached: "connected",
    run: Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
  },
  { phase: "capabilities (plaintext)", script: { greeting: hello, plainCapa: S.silent }, reached: "capa", run: secure(S.capsFirst) },
  { phase: "starttls", script: { greeting: hello, startTls: S.silent }, reached: "starttls", run: secure() },
  { phase: "handshake", script: { greeting: hello, afterStartTls: "silent" }, reached: "clientHello", run: secure() },
  {
    phase: "handshake (implicit TLS)",
    script: { greeting: hello, implicitTls: true, implicitSilent: true },
    reached: "clientHello",
    run: Connection.connectTls(LineDialect.dialect, { ...S.options, timeouts })
  },
  { phase: "capabilities (TLS)", script: { greeting: hello, tlsCapa: S.silent }, reached: "tlsCapa", run: secure() },
  {
    phase: "authenticate",
    script: { greeting: hello, auth: S.silent },
    reached: "auth",
    run: Effect.flatMap(secure(), (c) => Connection.authenticate(c as Secure, alice))
  },
  {
    phase: "command",
    script: { greeting: hello, echo: () => S.silent },
    reached: "echo",
    run: Effect.flatMap(secure(), (c) => Connection.withSession(c, (s) => Connection.exchange(s, LineDialect.echo("x"))))
  }
]

describe("closing the scope / interrupting in the middle of every phase", () => {
  for (const row of phases) {
    it.live(`${row.phase}: interrupting the scoped program destroys the socket at once`, () => {
      const rec = S.newRecording()
      return Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(row.run.pipe(Effect.scoped, Effect.provide(S.layer(row.script, rec))))
        yield* S.awaitEvent(rec, row.reached)
        yield* Effect.sleep(10)
        const start = yield* Clock.currentTimeMillis
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.isBelow((yield* Clock.currentTimeMillis) - start, 1_000)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause))
        assert.isTrue(yield* S.awaitEnded(rec), "the server did not see the close")
        assert.isFalse(S.leaks(Buffer.from(S.rawBytes(rec)).toString("latin1")))
      })
    })

    it.live(`${row.phase}: closing the scope from outside ends the operation with a typed error, socket closed`, () => {
      const rec = S.newRecording()
      return Effect.gen(function*() {
        const scope = yield* Scope.make()
        const fiber = yield* Effect.forkChild(
          Effect.exit(row.run.pipe(Scope.provide(scope), Effect.provide(S.layer(row.script, rec))))
        )
        yield* S.awaitEvent(rec, row.reached)
        yield* Effect.sleep(10)
        yield* Scope.close(scope, Exit.void)
        assert.isTrue(yield* S.awaitEnded(rec), "the server did not see the close")
        // The operation does not wait for its (far) deadline: the socket is gone.
        const exit = yield* Fiber.join(fiber).pipe(Effect.timeoutOption(1_000))
        assert.isTrue(Option.isSome(exit), "the operation still runs after its scope was closed")
        if (Option.isSome(exit)) {
          const reason = reasonOf(exit.value)
          assert.include(["TransportFailure", "TlsFailure", "StaleConnection"], reason._tag, reason.message)
        }
      })
    })
  }

  it.live("idle Secure connection: closing the scope closes the socket and makes the handle stale", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const connection = yield* secure().pipe(Scope.provide(scope), Effect.provide(S.layer({ greeting: hello }, rec)))
      assert.isFalse(rec.ended)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* S.awaitEnded(rec))
      assert.strictEqual(Connection.runtimeState(connection), "Closed")
      const reason = reasonOf(yield* Effect.exit(Connection.capabilities(connection as Secure)))
      assert.strictEqual(reason._tag, "StaleConnection")
    })
  })
})

describe("an interrupted transition leaves no usable handle", () => {
  for (const [name, script, reached] of [
    ["waiting for the STARTTLS reply", { greeting: hello, startTls: S.silent }, "starttls"],
    ["during the handshake", { greeting: hello, afterStartTls: "silent" }, "clientHello"]
  ] as const) {
    it.live(name, () => {
      const rec = S.newRecording()
      return Effect.gen(function*() {
        const plain = yield* Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
        const fiber = yield* Effect.forkChild(Connection.startTls(plain))
        yield* S.awaitEvent(rec, reached)
        yield* Fiber.interrupt(fiber)
        assert.notInclude(["Plain", "Secure"], Connection.runtimeState(plain))
        // The consumed Plain handle cannot be used to write anything more in plaintext.
        assert.strictEqual(reasonOf(yield* Effect.exit(Connection.queryCapabilities(plain)))._tag, "StaleConnection")
        assert.strictEqual(reasonOf(yield* Effect.exit(Connection.startTls(plain)))._tag, "StaleConnection")
        assert.deepStrictEqual(rec.plainLines, ["STARTTLS"])
        assert.isTrue(S.isTlsRecords(S.afterStartTls(rec)))
      }).pipe(Effect.scoped, Effect.provide(S.layer(script, rec)))
    })
  }
})

describe("an interrupted or abandoned exchange closes the session instead of desynchronising it", () => {
  it.live("an interrupted command: the next command fails typed, it never takes the late reply for its own", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const connection = yield* secure()
      const first = yield* Effect.forkChild(
        Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("first")))
      )
      yield* S.awaitEvent(rec, "echo")
      yield* Fiber.interrupt(first)
      // the late reply to "first" arrives meanwhile
      yield* Effect.sleep(150)
      const second = yield* Effect.exit(
        Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("second")))
      )
      assert.isTrue(Exit.isFailure(second), `got ${Exit.isSuccess(second) ? second.value : ""}`)
      assert.strictEqual(Connection.runtimeState(connection), "Closed")
      assert.isTrue(yield* S.awaitEnded(rec))
      assert.isFalse(rec.tlsLines.includes("ECHO second"))
    }).pipe(
      Effect.scoped,
      Effect.provide(S.layer({ greeting: hello, echo: (a) => S.delayed(100, `+OK ${a}\r\n`) }, rec))
    )
  })

  it.live("an authentication cut short by the caller's timeout: its late success is never read as another reply", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const connection = (yield* secure()) as Secure
      assert.isTrue(Exit.isFailure(yield* Effect.exit(Connection.authenticate(connection, alice).pipe(Effect.timeout(30)))))
      yield* Effect.sleep(150)
      const echo = yield* Effect.exit(
        Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("after")))
      )
      assert.isTrue(Exit.isFailure(echo), `got ${Exit.isSuccess(echo) ? echo.value : ""}`)
      assert.isFalse(rec.tlsLines.includes("ECHO after"))
    }).pipe(
      Effect.scoped,
      Effect.provide(S.layer({ greeting: hello, auth: S.delayed(100, "+OK [CAPS ECHO AUTHED] welcome\r\n") }, rec))
    )
  })

  for (const [name, script] of [
    ["a rejecting greeting", { greeting: S.send("-ERR go away\r\n") }],
    ["a pre-authenticated greeting on plaintext", { greeting: S.send("+PREAUTH [CAPS ECHO] hi\r\n") }],
    ["a refused STARTTLS", { greeting: hello, startTls: S.send("-ERR no\r\n") }],
    ["an injected STARTTLS reply", { greeting: hello, startTls: S.send("+OK go\r\n+OK CAPS AUTH=PLAIN\r\n") }]
  ] satisfies ReadonlyArray<readonly [string, S.Script]>) {
    it.live(`a connection that fails to become secure (${name}) is closed at once, not when the scope ends`, () => {
      const rec = S.newRecording()
      return Effect.gen(function*() {
        assert.isTrue(Exit.isFailure(yield* Effect.exit(secure())))
        assert.isTrue(yield* S.awaitEnded(rec, 200))
        assert.isFalse(rec.plainLines.some((l) => l.startsWith("AUTH")))
      }).pipe(Effect.scoped, Effect.provide(S.layer(script, rec)))
    })
  }
})

describe("a careless user", () => {
  it.live("a Plain handle cast to Secure: authenticate fails with PolicyViolation, no credential written", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
      const reason = reasonOf(yield* Effect.exit(Connection.authenticate(plain as unknown as Secure, alice)))
      assert.strictEqual(reason._tag, "PolicyViolation")
      assert.strictEqual(S.rawBytes(rec).length, 0)
    }).pipe(
      Effect.scoped,
      Effect.provide(S.layer({ greeting: S.send("+OK [CAPS AUTH=PLAIN SASL-IR STARTTLS] hi\r\n") }, rec))
    )
  })

  it.live("a forged handle (right generation, wrong state) is stale; nothing is written", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
      const forged: Secure = { state: "Secure", generation: plain.generation, session: plain.session }
      const reason = reasonOf(yield* Effect.exit(Connection.authenticate(forged, alice)))
      assert.strictEqual(reason._tag, "StaleConnection")
      assert.strictEqual(S.rawBytes(rec).length, 0)
    }).pipe(Effect.scoped, Effect.provide(S.layer({ greeting: hello }, rec)))
  })

  it.live("after a refused STARTTLS the Plain handle is dead: no fallback command goes out in plaintext", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
      assert.strictEqual(reasonOf(yield* Effect.exit(Connection.startTls(plain)))._tag, "StartTlsRejected")
      assert.strictEqual(Connection.runtimeState(plain), "Closed")
      assert.strictEqual(reasonOf(yield* Effect.exit(Connection.queryCapabilities(plain)))._tag, "StaleConnection")
      assert.strictEqual(reasonOf(yield* Effect.exit(Connection.startTls(plain)))._tag, "StaleConnection")
      assert.deepStrictEqual(rec.plainLines, ["STARTTLS"])
    }).pipe(Effect.scoped, Effect.provide(S.layer({ greeting: hello, startTls: S.send("-ERR no\r\n") }, rec)))
  })

  it.live("a handle kept past its scope is stale, even if the same session object is reused", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const connection = yield* secure().pipe(Effect.scoped, Effect.provide(S.layer({ greeting: hello }, rec)))
      assert.strictEqual(Connection.runtimeState(connection), "Closed")
      const reason = reasonOf(yield* Effect.exit(Connection.authenticate(connection as Secure, alice)))
      assert.strictEqual(reason._tag, "StaleConnection")
      assert.isFalse(rec.tlsLines.some((l) => l.startsWith("AUTH")))
    })
  })
})
