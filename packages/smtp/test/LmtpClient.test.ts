/**
 * LMTP (RFC 2033): LHLO, STARTTLS like SMTP, and one reply per accepted recipient after the data
 * (DATA and BDAT LAST), on transcripts and against the in-memory server in LMTP mode.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Lmtp from "../src/LmtpClient.ts"
import { memoryServer, options, QUIT, reason, scripted, text } from "./ClientHarness.ts"

const lhlo = (keywords: ReadonlyArray<string>) => `
  C: LHLO client.example
  S: 250-lmtp.example
  ${keywords.map((k, i) => `S+ 250${i === keywords.length - 1 ? " " : "-"}${k}`).join("\n")}`

const SECURED = `
  S: 220 lmtp.example LMTP ready
  ${lhlo(["PIPELINING", "STARTTLS", "ENHANCEDSTATUSCODES"])}
  C: STARTTLS
  S: 220 2.0.0 go
  -- starttls
  ${lhlo(["PIPELINING", "ENHANCEDSTATUSCODES", "CHUNKING"])}`

const to = ["b@example.org", "c@example.org", "d@example.org"]
const env = { from: "a@example.com", to }

const run = <A, E>(layer: Layer.Layer<any>, program: Effect.Effect<A, E, any>) =>
  Effect.exit(program.pipe(Effect.scoped, Effect.provide(layer))) as Effect.Effect<Exit.Exit<A, E>>

describe("LmtpClient", () => {
  it.live("LHLO before and after STARTTLS; DATA; one reply per accepted recipient (RFC 2033 §4.2)", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`${SECURED}
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: RCPT TO:<d@example.org>
        C: DATA
        S: 250 2.1.0 ok
        S+ 250 2.1.5 ok
        S+ 550 5.1.1 <c@example.org> unknown
        S+ 250 2.1.5 ok
        S+ 354 go
        C: hello
        C: .
        S: 250 2.0.0 <b@example.org> delivered
        S+ 452 4.2.2 <d@example.org> over quota
        ${QUIT}`)
      const exit = yield* run(
        layer,
        Effect.gen(function*() {
          const lmtp = yield* Lmtp.secure(options)
          const result = yield* Lmtp.send(lmtp, env, "hello\r\n", { transfer: "DATA" })
          yield* Lmtp.close(lmtp)
          return result
        })
      )
      if (Exit.isFailure(exit)) return assert.fail(String(exit.cause))
      const result = exit.value
      assert.deepStrictEqual(result.accepted, ["b@example.org"])
      assert.deepStrictEqual(result.recipients.map((r) => [r.address, r.code, r.enhancedCode]), [
        ["b@example.org", 250, "2.0.0"],
        ["c@example.org", 550, "5.1.1"],
        ["d@example.org", 452, "4.2.2"]
      ])
      assert.strictEqual(result.untrustedText, "<b@example.org> delivered")
      yield* recording
    }))

  it.live("BDAT LAST is answered per recipient too; no delivery at all → NoRecipientAccepted", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`${SECURED}
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: BDAT 7 LAST
        C: hello
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        S+ 550 5.2.1 b disabled
        S+ 450 4.2.1 c busy
        ${QUIT}`)
      const r = reason(
        yield* run(
          layer,
          Effect.gen(function*() {
            const lmtp = yield* Lmtp.secure(options)
            return yield* Lmtp.send(lmtp, { from: "a@example.com", to: to.slice(0, 2) }, "hello\r\n").pipe(
              Effect.ensuring(Lmtp.close(lmtp))
            )
          })
        )
      )
      assert.strictEqual(r._tag, "NoRecipientAccepted")
      if (r._tag === "NoRecipientAccepted") assert.deepStrictEqual(r.refusals.map((x) => x.code), [550, 450])
      yield* recording
    }))

  it.live("421 in the middle of the delivery replies → OutcomeUnknown naming the recipients already delivered", () =>
    Effect.gen(function*() {
      const { layer } = yield* scripted(`${SECURED}
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: RCPT TO:<d@example.org>
        C: BDAT 7 LAST
        C: hello
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        S+ 250 ok
        S+ 250 2.0.0 b delivered
        S+ 421 4.3.2 shutting down
        -- expect-close`)
      const r = reason(yield* run(layer, Effect.flatMap(Lmtp.secure(options), (lmtp) => Lmtp.send(lmtp, env, "hello\r\n"))))
      assert.strictEqual(r._tag, "OutcomeUnknown")
      if (r._tag === "OutcomeUnknown") assert.deepStrictEqual(r.delivered, ["b@example.org"])
    }))

  it.live("a plaintext LMTP server needs the dangerous policy (Downgrade event); no HELO fallback", () =>
    Effect.gen(function*() {
      const plain = `
        S: 220 lmtp.example LMTP ready
        ${lhlo(["PIPELINING", "ENHANCEDSTATUSCODES"])}`
      const required = yield* scripted(`${plain}\n-- expect-close`)
      assert.strictEqual(reason(yield* run(required.layer, Lmtp.secure(options)))._tag, "StartTlsUnavailable")

      const events: Array<SecurityEvents.SecurityEvent> = []
      const allowed = yield* scripted(`${plain}
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        C: hi
        C: .
        S: 250 ok
        ${QUIT}`)
      const exit = yield* run(
        Layer.mergeAll(
          allowed.layer,
          TlsPolicy.opportunisticStartTlsDangerously,
          SecurityEvents.layer((e) => Effect.sync(() => events.push(e)))
        ),
        Effect.gen(function*() {
          const lmtp = yield* Lmtp.opportunistic(options)
          assert.strictEqual(lmtp.state, "Plain")
          yield* Lmtp.send(lmtp, { from: "a@example.com", to: ["b@example.org"] }, "hi\r\n")
          yield* Lmtp.close(lmtp)
        })
      )
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual(events.map((e) => e._tag), ["Downgrade"])
      yield* allowed.recording

      const refused = yield* scripted(`
        S: 220 lmtp.example LMTP ready
        C: LHLO client.example
        S: 500 5.5.1 unknown command
        -- expect-close`)
      const r = reason(yield* run(Layer.merge(refused.layer, TlsPolicy.opportunisticStartTlsDangerously), Lmtp.opportunistic(options)))
      assert.strictEqual(r._tag, "Permanent")
    }))

  it.live("against the in-memory LMTP server: per-recipient deliveries, over DATA and BDAT", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer({
        mode: "lmtp",
        deliveries: { "d@example.org": "452 4.2.2 Mailbox full" },
        recipients: { "c@example.org": "550 5.1.1 User unknown" }
      })
      yield* Effect.gen(function*() {
        const lmtp = yield* Lmtp.secure(options)
        for (const transfer of ["DATA", "BDAT"] as const) {
          const result = yield* Lmtp.send(lmtp, env, "Subject: x\r\n\r\nbody\r\n", { transfer })
          assert.deepStrictEqual(result.recipients.map((r) => [r.address, r.accepted, r.code]), [
            ["b@example.org", true, 250],
            ["c@example.org", false, 550],
            ["d@example.org", false, 452]
          ])
        }
        yield* Lmtp.close(lmtp)
      }).pipe(Effect.scoped, Effect.provide(layer))
      const messages = server.messages()
      assert.strictEqual(messages.length, 2)
      for (const m of messages) {
        assert.deepStrictEqual(m.recipients, ["b@example.org"])
        assert.strictEqual(text(m.body), "Subject: x\r\n\r\nbody\r\n")
      }
    }))
})
