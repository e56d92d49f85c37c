/**
 * The SASL framing hook and the named-mechanism path of the engine: `Dialect.Sasl.initialResponse`
 * decides per mechanism and encoded length (an AUTH line has a limit: RFC 5034 §4, RFC 4954 §4),
 * `startTls` can leave the capability re-query for later, and `authenticate` with
 * `withoutCapabilities` starts the caller's one mechanism without asking for the list.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import type * as Dialect from "@starttls/core/Dialect"
import * as Sasl from "@starttls/core/Sasl"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
// core does not depend on testkit (dependencies point one way); its tests borrow the in-memory transport.
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as MemoryTransport from "../../testkit/src/MemoryTransport.ts"
import * as LineDialect from "./LineDialect.ts"
import * as LineServer from "./LineServer.ts"

const options = { host: "localhost", port: 9143, tls: { trustOnly: [LineServer.certs.ca] } }
const alice = Credentials.password({ username: "alice", password: Redacted.make("s3cret") })
// "\0alice\0s3cret": 13 octets, 20 in base64.
const IR = Buffer.from("\0alice\0s3cret").toString("base64")

const withServer = (config: LineServer.Config) => {
  const rec = LineServer.newRecording()
  return { rec, layer: MemoryTransport.layer((server) => LineServer.serve(config, rec)(server)) }
}

/** The LINE dialect, recording what its `initialResponse` hook was asked. */
const spied = () => {
  const calls: Array<readonly [LineDialect.Caps | undefined, string, number]> = []
  const dialect: Dialect.Dialect<string, LineDialect.Caps> = {
    ...LineDialect.dialect,
    session: () => {
      const base = LineDialect.dialect.session()
      return {
        ...base,
        sasl: {
          ...base.sasl,
          initialResponse: (caps, mechanism, length) => {
            calls.push([caps, mechanism, length])
            return base.sasl.initialResponse(caps, mechanism, length)
          }
        }
      }
    }
  }
  return { calls, dialect }
}

describe("the initialResponse hook", () => {
  it.live("sees the mechanism and the encoded length; a response that does not fit waits for the first challenge", () =>
    Effect.gen(function*() {
      // "AUTH PLAIN " + 20 + CRLF = 33 octets.
      for (const [limit, inline] of [[33, true], [32, false]] as const) {
        const { rec, layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN", "SASL-IR", `AUTHLINE=${limit}`] })
        const { calls, dialect } = spied()
        const state = yield* Effect.gen(function*() {
          const secure = yield* Connection.startTls(yield* Connection.connect(dialect, options))
          return (yield* Connection.authenticate(secure, alice)).state
        }).pipe(Effect.scoped, Effect.provide(layer))
        assert.strictEqual(state, "Authenticated")
        assert.deepStrictEqual(calls.map(([, mechanism, length]) => [mechanism, length]), [["PLAIN", 20]])
        assert.strictEqual(
          LineServer.tlsSent(rec),
          inline ? `CAPA\r\nAUTH PLAIN ${IR}\r\n` : `CAPA\r\nAUTH PLAIN\r\n${IR}\r\n`
        )
      }
    }))

  it("Sasl.defer holds a response back exactly like initialResponse: false", () => {
    const input = { credentials: alice }
    const inline = Result.getOrThrow(Sasl.start("PLAIN", input))
    const deferred = Sasl.defer(inline)
    assert.isUndefined(deferred.response)
    assert.deepStrictEqual(deferred.state, Result.getOrThrow(Sasl.start("PLAIN", { ...input, initialResponse: false })).state)
    const step = Result.getOrThrow(Sasl.step(deferred.state, new Uint8Array(0)))
    assert.strictEqual(Buffer.from(Redacted.value(step.response)).toString("base64"), IR)
    assert.isTrue(step.done)
    // Nothing to hold (a server-first mechanism): unchanged.
    const login = Result.getOrThrow(Sasl.start("LOGIN", input))
    assert.strictEqual(Sasl.defer(login), login)
  })
})

describe("startTls with deferCapabilities", () => {
  it.live("nothing is asked after the handshake; the capabilities are asked over TLS when needed", () => {
    const { rec, layer } = withServer({ plainCaps: ["STARTTLS", "X-PLAIN"], tlsCaps: ["AUTH=PLAIN", "X-TLS"] })
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(LineDialect.dialect, options)
      yield* Connection.queryCapabilities(plain)
      const secure = yield* Connection.startTls(plain, { deferCapabilities: true })
      assert.strictEqual(secure.state, "Secure")
      assert.isUndefined(secure.session.capabilities)
      assert.isUndefined(secure.session.plaintextCapabilities)
      assert.strictEqual(LineServer.tlsSent(rec), "")
      assert.deepStrictEqual(yield* Connection.capabilities(secure), ["AUTH=PLAIN", "X-TLS"])
      assert.strictEqual(LineServer.tlsSent(rec), "CAPA\r\n")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})

describe("authenticate withoutCapabilities", () => {
  const deferred = Effect.flatMap(
    Connection.connect(LineDialect.dialect, options),
    (plain) => Connection.startTls(plain, { deferCapabilities: true })
  )

  it.live("one offer-independent mechanism: AUTH at once; the hook gets no capabilities (LINE then defers)", () => {
    const { rec, layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN", "SASL-IR"] })
    return Effect.gen(function*() {
      const authed = yield* Connection.authenticate(yield* deferred, alice, {
        mechanisms: ["plain"],
        withoutCapabilities: true
      })
      assert.strictEqual(authed.state, "Authenticated")
      // Without the list, LINE cannot know SASL-IR: the response follows the empty challenge.
      assert.strictEqual(LineServer.tlsSent(rec), `AUTH PLAIN\r\n${IR}\r\n`)
      assert.deepStrictEqual(authed.session.capabilities, ["ECHO", "AUTHED"])
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.live("the list is asked as usual for a mechanism that depends on it, for two, or without the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Connection.AuthenticateOptions, string]> = [
        // SCRAM's GS2 flag depends on whether the server offers -PLUS: never started blind.
        [{ mechanisms: ["SCRAM-SHA-256"], withoutCapabilities: true }, "CAPA\r\n"],
        [{ mechanisms: ["LOGIN", "PLAIN"], withoutCapabilities: true }, `CAPA\r\nAUTH PLAIN ${IR}\r\n`],
        [{ mechanisms: ["PLAIN"] }, `CAPA\r\nAUTH PLAIN ${IR}\r\n`]
      ]
      for (const [authenticate, sent] of cases) {
        const { rec, layer } = withServer({ users: { alice: "s3cret" }, tlsCaps: ["AUTH=PLAIN", "SASL-IR"] })
        yield* Effect.flatMap(deferred, (secure) => Effect.exit(Connection.authenticate(secure, alice, authenticate))).pipe(
          Effect.scoped,
          Effect.provide(layer)
        )
        assert.strictEqual(LineServer.tlsSent(rec), sent)
      }
    }))

  it.live("the credentials must still fit the mechanism: NoUsableMechanism, nothing sent", () => {
    const { rec, layer } = withServer({ tlsCaps: ["AUTH=PLAIN"] })
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Connection.authenticate(yield* deferred, alice, { mechanisms: ["XOAUTH2"], withoutCapabilities: true })
      )
      assert.strictEqual(reasonOf(exit)._tag, "NoUsableMechanism")
      assert.strictEqual(LineServer.tlsSent(rec), "")
    }).pipe(Effect.scoped, Effect.provide(layer))
  })
})
