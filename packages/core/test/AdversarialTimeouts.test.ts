/**
 * S9 and S8 against a hostile server: every wait of the negotiation engine ends with a `Timeout`
 * naming its phase, close to the configured deadline (small deadlines, live clock), and a server that
 * never stops talking is cut off by a limit with memory bounded (the flooding server writes with
 * backpressure, so what it managed to write is what the client read).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import * as Dialect from "@starttls/core/Dialect"
import type * as Limits from "@starttls/core/Limits"
import type * as MailError from "@starttls/core/MailError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as MemoryTransport from "../../testkit/src/MemoryTransport.ts"
import * as S from "./AdversarialServer.ts"
import * as LineDialect from "./LineDialect.ts"

type Caps = LineDialect.Caps
type Secure = Connection.Connection<"Secure", string, Caps>

const alice = Credentials.password({ username: S.secret.username, password: Redacted.make(S.secret.password) })

// The deadline under test; every other one is far away, so only the right one can fire.
const deadline = 120
const far = 10_000
// How late a deadline may fire on a busy 2-core machine.
const slack = 1_500

const hello = S.send("+OK hello\r\n")

interface Row {
  readonly phase: MailError.Phase
  readonly name: string
  readonly script: S.Script
  readonly timeouts: Partial<Limits.Timeouts>
  readonly run: (timeouts: Partial<Limits.Timeouts>) => Effect.Effect<unknown, MailError.MailError, S.TransportNeeds>
}

const secure = (timeouts: Partial<Limits.Timeouts>, dialect = LineDialect.dialect) =>
  Connection.secure(dialect, { ...S.options, timeouts })

const rows: ReadonlyArray<Row> = [
  {
    phase: "greeting",
    name: "a server that never greets",
    script: { greeting: S.silent },
    timeouts: { greeting: deadline },
    run: (timeouts) => Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
  },
  {
    phase: "capabilities",
    name: "a capability query never answered in plaintext (capabilities-first dialect)",
    script: { greeting: hello, plainCapa: S.silent },
    timeouts: { command: deadline },
    run: (timeouts) => secure(timeouts, S.capsFirst)
  },
  {
    phase: "starttls",
    name: "a STARTTLS never answered",
    script: { greeting: hello, startTls: S.silent },
    timeouts: { command: deadline },
    run: (timeouts) => secure(timeouts)
  },
  {
    phase: "handshake",
    name: "a positive STARTTLS reply, then the ClientHello is never answered",
    script: { greeting: hello, afterStartTls: "silent" },
    timeouts: { handshake: deadline },
    run: (timeouts) => secure(timeouts)
  },
  {
    phase: "handshake",
    name: "implicit TLS: the ClientHello is never answered",
    script: { greeting: hello, implicitTls: true, implicitSilent: true },
    timeouts: { handshake: deadline },
    run: (timeouts) => Connection.connectTls(LineDialect.dialect, { ...S.options, timeouts })
  },
  {
    phase: "greeting",
    name: "implicit TLS: handshake done, then no greeting",
    script: { greeting: S.silent, implicitTls: true },
    timeouts: { greeting: deadline },
    run: (timeouts) => Connection.connectTls(LineDialect.dialect, { ...S.options, timeouts })
  },
  {
    phase: "capabilities",
    name: "the capability re-query over TLS never answered",
    script: { greeting: hello, tlsCapa: S.silent },
    timeouts: { command: deadline },
    run: (timeouts) => secure(timeouts)
  },
  {
    phase: "authenticate",
    name: "AUTH never answered",
    script: { greeting: hello, auth: S.silent },
    timeouts: { command: deadline },
    run: (timeouts) => Effect.flatMap(secure(timeouts), (connection) => Connection.authenticate(connection as Secure, alice))
  },
  {
    phase: "command",
    name: "an application command never answered",
    script: { greeting: hello, echo: () => S.silent },
    timeouts: { command: deadline },
    run: (timeouts) =>
      Effect.flatMap(secure(timeouts), (connection) =>
        Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("ping"))))
  }
]

describe("S9: every wait ends with a Timeout naming its phase, near its deadline", () => {
  for (const row of rows) {
    it.live(`${row.phase}: ${row.name}`, () => {
      const rec = S.newRecording()
      const timeouts = { connect: far, greeting: far, handshake: far, command: far, ...row.timeouts }
      return Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(row.run(timeouts))
        const elapsed = (yield* Clock.currentTimeMillis) - start
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag, "Timeout", reason.message)
        if (reason._tag === "Timeout") {
          assert.strictEqual(reason.phase, row.phase)
          assert.strictEqual(reason.millis, deadline)
          assert.include(reason.message, row.phase)
        }
        assert.isAtLeast(elapsed, deadline - 5)
        assert.isBelow(elapsed, deadline + slack)
        // Nothing but the negotiation was written in plaintext, whatever phase timed out.
        assert.isFalse(S.leaks(Buffer.from(S.rawBytes(rec)).toString("latin1")))
      }).pipe(Effect.scoped, Effect.provide(S.layer(row.script, rec)))
    })
  }

  it.live("connect: a transport whose connect never completes is bounded by the engine", () =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const reason = reasonOf(
        yield* Effect.exit(
          Connection.connect(LineDialect.dialect, { ...S.options, timeouts: { connect: deadline } }).pipe(
            Effect.scoped,
            Effect.timeoutOrElse({ duration: deadline + slack, orElse: () => Effect.die("hang") })
          )
        )
      )
      assert.strictEqual(reason._tag === "Timeout" ? reason.phase : reason._tag, "connect")
      assert.isBelow((yield* Clock.currentTimeMillis) - start, deadline + slack)
    }).pipe(Effect.provide(S.hangingLayer)))

  // A slow-loris server keeps every single wait short; the deadline is for the whole reply.
  const trickled: ReadonlyArray<readonly [MailError.Phase, string, S.Script, (t: Partial<Limits.Timeouts>) => Effect.Effect<unknown, MailError.MailError, S.TransportNeeds>]> = [
    [
      "greeting",
      "a greeting trickled one byte at a time",
      { greeting: S.trickle("+OK ", "x", 20) },
      (timeouts) => Connection.connect(LineDialect.dialect, { ...S.options, timeouts })
    ],
    [
      "starttls",
      "a STARTTLS reply trickled one byte at a time",
      { greeting: hello, startTls: S.trickle("+OK", " x", 20) },
      (timeouts) => secure(timeouts)
    ],
    [
      "authenticate",
      "an AUTH reply trickled one byte at a time",
      { greeting: hello, auth: S.trickle("+OK [CAPS", " X", 20) },
      (timeouts) => Effect.flatMap(secure(timeouts), (connection) => Connection.authenticate(connection as Secure, alice))
    ],
    [
      "command",
      "a multi-line reply that never ends (one line every 20 ms)",
      { greeting: hello, echo: () => S.trickle("", "+ item\r\n", 20) },
      (timeouts) =>
        Effect.flatMap(secure(timeouts), (connection) =>
          Connection.withSession(connection, (session) =>
            Connection.exchange(session, {
              ...LineDialect.echo("list"),
              onFrame: (frame) => (frame === "." ? Dialect.done(0) : Dialect.Continue)
            })))
    ]
  ]
  for (const [phase, name, script, run] of trickled) {
    it.live(`${phase}: ${name} still ends at the deadline`, () => {
      const rec = S.newRecording()
      return Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const reason = reasonOf(
          yield* Effect.exit(
            run({ greeting: deadline, command: deadline }).pipe(
              Effect.timeoutOrElse({ duration: deadline + slack, orElse: () => Effect.die("hang") })
            )
          )
        )
        assert.strictEqual(reason._tag === "Timeout" ? reason.phase : reason._tag, phase)
        assert.isBelow((yield* Clock.currentTimeMillis) - start, deadline + slack)
        assert.isTrue(yield* S.awaitEnded(rec), "the trickling server was not cut off")
      }).pipe(Effect.scoped, Effect.provide(S.layer(script, rec)))
    })
  }

  it.live("the session is unusable after a timeout: the next command fails with the same typed error, writing nothing", () => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const connection = yield* secure({ command: deadline })
      const first = reasonOf(yield* Effect.exit(
        Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("one")))
      ))
      assert.strictEqual(first._tag, "Timeout")
      const echoes = rec.tlsLines.length
      const second = reasonOf(yield* Effect.exit(
        Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("two")))
      ))
      assert.strictEqual(second._tag, "Timeout")
      // The late answer to "one" can never be taken for the answer to "two": "two" was never sent.
      yield* Effect.sleep(50)
      assert.strictEqual(rec.tlsLines.length, echoes)
    }).pipe(Effect.scoped, Effect.provide(S.layer({ greeting: hello, echo: (a) => S.delayed(deadline + 30, `+OK ${a}\r\n`) }, rec)))
  })
})

describe("S8: a server that never stops is cut off by a limit, memory bounded", () => {
  it.live("a fast in-memory sender: the line limit fires after ~limit bytes, not after 16 MiB", () => {
    const maxLineLength = 16 * 1024
    let written = 0
    const layer = MemoryTransport.layer((server) =>
      Effect.sync(() => {
        const chunk = Buffer.alloc(4096, 0x78)
        server.write("+OK ")
        const pump = () => {
          while (!server.destroyed) {
            written += chunk.length
            if (!server.write(chunk)) return void server.once("drain", pump)
          }
        }
        pump()
      }).pipe(Effect.andThen(Effect.never))
    )
    return Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const reason = reasonOf(
        yield* Effect.exit(Connection.connect(LineDialect.dialect, { ...S.options, limits: { maxLineLength } }))
      )
      assert.strictEqual(reason._tag, "LimitExceeded")
      if (reason._tag === "LimitExceeded") assert.isBelow(reason.actual, 1024 * 1024)
      assert.isBelow((yield* Clock.currentTimeMillis) - start, 1_000)
      assert.isBelow(written, 4 * 1024 * 1024)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  const maxLineLength = 16 * 1024
  // What may reach the client before it stops reading: the limit, a pull's worth of bytes, and
  // the stream buffers between the two ends.
  const bound = maxLineLength + 512 * 1024

  const limited = (
    script: S.Script,
    run: (options: Connection.Options) => Effect.Effect<unknown, MailError.MailError, S.TransportNeeds>
  ) => {
    const rec = S.newRecording()
    return Effect.gen(function*() {
      const reason = reasonOf(
        yield* Effect.exit(
          run({ ...S.options, limits: { maxLineLength }, timeouts: { command: far, greeting: far } }).pipe(
            Effect.scoped,
            Effect.provide(S.layer(script, rec))
          )
        )
      )
      const ended = yield* S.awaitEnded(rec)
      return { reason, rec, ended }
    })
  }

  const assertLimit = (reason: MailError.MailErrorReason) => {
    assert.strictEqual(reason._tag, "LimitExceeded", reason.message)
    if (reason._tag === "LimitExceeded") {
      assert.strictEqual(reason.limit, "maxLineLength")
      assert.strictEqual(reason.max, maxLineLength)
      assert.isBelow(reason.actual, bound)
    }
  }

  const endless: ReadonlyArray<
    readonly [string, S.Script, (options: Connection.Options) => Effect.Effect<unknown, MailError.MailError, S.TransportNeeds>]
  > = [
    ["an endless greeting line", { greeting: S.flood("+OK ", "x".repeat(4096)) }, (options) =>
      Connection.connect(LineDialect.dialect, options)],
    [
      "an endless STARTTLS reply line (plaintext, byte-counted path; TLS never starts)",
      { greeting: hello, startTls: S.flood("+OK begin", "y".repeat(4096)) },
      (options) => Connection.secure(LineDialect.dialect, options)
    ],
    [
      "an endless line in the capability re-query over TLS keeps its reason (not CapabilitiesUnavailable)",
      { greeting: hello, tlsCapa: S.flood("+OK CAPS ", "X".repeat(4096)) },
      (options) => Connection.secure(LineDialect.dialect, options)
    ],
    [
      "an endless reply line over TLS",
      { greeting: hello, echo: () => S.flood("+OK ", "z".repeat(4096)) },
      (options) =>
        Effect.flatMap(Connection.secure(LineDialect.dialect, options), (connection) =>
          Connection.withSession(connection, (session) => Connection.exchange(session, LineDialect.echo("x"))))
    ]
  ]
  for (const [name, script, run] of endless) {
    it.live(name, () =>
      Effect.gen(function*() {
        const { reason, rec, ended } = yield* limited(script, run)
        assertLimit(reason)
        assert.isBelow(rec.written, bound)
        assert.isTrue(ended)
        if (script.startTls !== undefined) assert.strictEqual(S.afterStartTls(rec).length, 0)
      }))
  }

  it.live("a flood of lines after the greeting: the client reads one pull's worth, refuses STARTTLS, counts the rest", () =>
    Effect.gen(function*() {
      const { reason, rec, ended } = yield* limited(
        { greeting: S.flood("+OK hello\r\n", "+OK CAPS AUTH=PLAIN\r\n".repeat(200)) },
        (options) => Connection.secure(LineDialect.dialect, options)
      )
      // The flood answers STARTTLS, and then bytes follow the answer.
      assert.strictEqual(reason._tag, "StartTlsInjection")
      if (reason._tag === "StartTlsInjection") {
        assert.isAbove(reason.pendingBytes, 0)
        assert.isBelow(reason.pendingBytes, bound)
        assert.isAtMost(reason.preview.length, 200)
      }
      assert.isBelow(rec.written, bound)
      assert.isTrue(ended)
      assert.strictEqual(S.afterStartTls(rec).length, 0)
    }))
})
