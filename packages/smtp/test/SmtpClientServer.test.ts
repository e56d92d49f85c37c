/**
 * End to end against the testkit's stateful in-memory SMTP server (real TLS): every SASL mechanism
 * of core, delivered bodies byte for byte over DATA and BDAT, several messages per connection with
 * RSET when needed, and the properties: no argument with CR or LF ever reaches the wire, and random
 * transaction sequences deliver exactly what a model predicts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Smtp from "../src/SmtpClient.ts"
import { credentials, memoryServer, options, password, reason, text } from "./ClientHarness.ts"

const env = { from: "a@example.com", to: ["b@example.org"] }

describe("SmtpClient against SmtpServer", () => {
  describe("every SASL mechanism of core through the SMTP framing", () => {
    const mechanisms = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"] as const
    for (const mechanism of mechanisms) {
      it.live(mechanism, () =>
        Effect.gen(function*() {
          const { layer, server } = yield* memoryServer({ mechanisms: [mechanism] })
          yield* Effect.gen(function*() {
            const smtp = yield* Smtp.session({ ...options, credentials })
            yield* Smtp.send(smtp, env, "Subject: x\r\n\r\nhi\r\n")
            yield* Smtp.close(smtp)
          }).pipe(Effect.scoped, Effect.provide(layer))
          assert.strictEqual(server.messages()[0]?.authenticatedAs, "alice")
        }))
    }

    for (const mechanism of ["XOAUTH2", "OAUTHBEARER"] as const) {
      it.live(`${mechanism} (token credentials)`, () =>
        Effect.gen(function*() {
          const { layer, server } = yield* memoryServer({ mechanisms: [mechanism], tokens: { alice: "tok-123" } })
          const token = Credentials.oauth2({ username: "alice", token: Effect.succeed(Redacted.make("tok-123")) })
          yield* Effect.gen(function*() {
            const smtp = yield* Smtp.session({ ...options, credentials: token })
            yield* Smtp.send(smtp, env, "x\r\n")
          }).pipe(Effect.scoped, Effect.provide(layer))
          assert.strictEqual(server.messages()[0]?.authenticatedAs, "alice")
        }))
    }

    it.live("XOAUTH2 with a token too long for the AUTH line (RFC 4954 §4): the response goes after 334", () =>
      Effect.gen(function*() {
        // "user=alice\x01auth=Bearer <token>\x01\x01" in base64 is 12,276 octets: over the 12,288 of an
        // AUTH line with "AUTH XOAUTH2 " and CRLF, within the 12,288 of a response line.
        const long = "t".repeat(9181)
        const ir = Buffer.from(`user=alice\x01auth=Bearer ${long}\x01\x01`).toString("base64")
        assert.isAbove(`AUTH XOAUTH2 ${ir}\r\n`.length, 12288)
        assert.isAtMost(`${ir}\r\n`.length, 12288)
        const { layer, server } = yield* memoryServer({ mechanisms: ["XOAUTH2"], tokens: { alice: long } })
        const token = Credentials.oauth2({ username: "alice", token: Effect.succeed(Redacted.make(long)) })
        yield* Effect.gen(function*() {
          const smtp = yield* Smtp.session({ ...options, credentials: token })
          yield* Smtp.send(smtp, env, "x\r\n")
        }).pipe(Effect.scoped, Effect.provide(layer))
        assert.strictEqual(server.messages()[0]?.authenticatedAs, "alice")
        const entries = server.connections()[0]!.entries
        const auth = entries.findIndex((e) => e._tag === "Command" && e.verb === "AUTH")
        assert.strictEqual((entries[auth] as { readonly line: string }).line, "AUTH XOAUTH2")
        assert.deepStrictEqual(entries[auth + 1], { _tag: "SaslResponse", phase: "tls", line: ir })
        assert.isFalse(entries.some((e) => e._tag === "BadLine"))
      }))

    it.live("a forged SCRAM server signature fails the session (S11)", () =>
      Effect.gen(function*() {
        const { layer } = yield* memoryServer({ mechanisms: ["SCRAM-SHA-256"], scram: { forgeServerSignature: true } })
        const r = reason(yield* Effect.exit(Smtp.session({ ...options, credentials }).pipe(Effect.scoped, Effect.provide(layer))))
        assert.strictEqual(r._tag, "AuthenticationFailed")
      }))

    it.live("a wrong password → AuthenticationFailed 535 5.7.8", () =>
      Effect.gen(function*() {
        const { layer } = yield* memoryServer()
        const wrong = Credentials.password({ username: "alice", password: Redacted.make("wrong") })
        const r = reason(yield* Effect.exit(Smtp.session({ ...options, credentials: wrong }).pipe(Effect.scoped, Effect.provide(layer))))
        assert.strictEqual(r._tag, "AuthenticationFailed")
        if (r._tag === "AuthenticationFailed") assert.strictEqual(r.code, "535 5.7.8")
      }))
  })

  it.live("bodies arrive byte for byte over BDAT and DATA, streamed or not; plaintext and TLS EHLO differ", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer()
      const body = "Subject: t\r\n\r\n.leading dot\r\n..two\r\nend"
      const expected = "Subject: t\r\n\r\n.leading dot\r\n..two\r\nend\r\n"
      yield* Effect.gen(function*() {
        const plain = yield* Smtp.connect(options)
        assert.isTrue((yield* Smtp.untrustedExtensions(plain)).startTls)
        const secure = yield* Smtp.startTls(plain)
        const ext = yield* Smtp.extensions(secure)
        assert.isFalse(ext.startTls)
        assert.deepStrictEqual(ext.auth, ["PLAIN", "LOGIN"])
        const smtp = yield* Smtp.authenticate(secure, credentials)
        const chunks = Stream.fromIterable([body.slice(0, 15), body.slice(15, 16), body.slice(16)].map((s) => new TextEncoder().encode(s)))
        const results = [
          yield* Smtp.send(smtp, env, body),
          yield* Smtp.send(smtp, env, body, { transfer: "DATA" }),
          yield* Smtp.send(smtp, env, chunks),
          yield* Smtp.send(smtp, env, chunks, { transfer: "DATA" }),
          yield* Smtp.send(smtp, env, body, { chunkSize: 7 })
        ]
        assert.deepStrictEqual(results.map((r) => r.transfer), ["BDAT", "DATA", "BDAT", "DATA", "BDAT"])
        yield* Smtp.close(smtp)
      }).pipe(Effect.scoped, Effect.provide(layer))
      const messages = server.messages()
      assert.strictEqual(messages.length, 5)
      for (const m of messages) {
        assert.strictEqual(text(m.body), expected)
        assert.isTrue(m.secure)
        assert.deepStrictEqual(m.recipients, ["b@example.org"])
      }
    }))

  it.live("refused recipients are data; RSET is sent only when a transaction was left open", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer({
        recipients: { "nobody@example.org": "550 5.1.1 <nobody@example.org>: Recipient address rejected" }
      })
      yield* Effect.gen(function*() {
        const smtp = yield* Smtp.session({ ...options, credentials })
        const partial = yield* Smtp.send(smtp, { from: "a@example.com", to: ["b@example.org", "nobody@example.org"] }, "x\r\n")
        assert.deepStrictEqual(partial.accepted, ["b@example.org"])
        assert.deepStrictEqual(partial.rejected.map((r) => [r.code, r.enhancedCode]), [[550, "5.1.1"]])
        const none = reason(yield* Effect.exit(Smtp.send(smtp, { from: "a@example.com", to: ["nobody@example.org"] }, "y\r\n")))
        assert.strictEqual(none._tag, "NoRecipientAccepted")
        yield* Smtp.send(smtp, env, "z\r\n")
        yield* Smtp.close(smtp)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(server.messages().map((m) => text(m.body)), ["x\r\n", "z\r\n"])
      const verbs = server.connections()[0]!.entries.flatMap((e) => e._tag === "Command" && e.phase === "tls" ? [e.verb] : [])
      assert.deepStrictEqual(verbs.filter((v) => v === "RSET"), ["RSET"])
    }))

  it.live("a drop after the end of the data is OutcomeUnknown; a drop in the middle is never a success", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer({ faults: { withholdFinalReply: "drop" } })
      const unknown = reason(yield* Effect.exit(Effect.flatMap(Smtp.session({ ...options, credentials }), (smtp) => Smtp.send(smtp, env, "x\r\n")).pipe(Effect.scoped, Effect.provide(layer))))
      assert.strictEqual(unknown._tag, "OutcomeUnknown")
      server.setFaults({ dropAfterPayloadBytes: 3 })
      const slow = Stream.concat(
        Stream.make(new TextEncoder().encode("x".repeat(100))),
        Stream.fromEffect(Effect.as(Effect.sleep("30 millis"), new TextEncoder().encode("\r\nmore\r\n")))
      )
      for (const transfer of ["DATA", "BDAT"] as const) {
        const failed = reason(
          yield* Effect.exit(
            Effect.flatMap(Smtp.session({ ...options, credentials }), (smtp) => Smtp.send(smtp, env, slow, { transfer, chunkSize: 50 }))
              .pipe(Effect.scoped, Effect.provide(layer))
          )
        )
        // The drop is seen on the next read (writes to a closed peer are not reported at once): a
        // plain failure or, once the end was written, an unknown outcome; never a success.
        assert.include(["TransportFailure", "OutcomeUnknown"], failed._tag, transfer)
      }
      assert.strictEqual(server.messages().length, 0)
    }))
})

describe("properties", () => {
  const unsafe = fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom("\r", "\n", "\r\n", "\0"), fc.string({ maxLength: 8 }))
    .map(([a, bad, b]) => a + bad + b)

  it.live("no argument with CR, LF or NUL ever reaches the wire (InvalidArgument, nothing written, the session goes on)", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* memoryServer()
      const samples = fc.sample(
        fc.record({
          field: fc.constantFrom("from", "to", "second", "envid", "orcpt"),
          value: unsafe
        }),
        { numRuns: 150, seed: 42 }
      )
      yield* Effect.gen(function*() {
        const smtp = yield* Smtp.session({ ...options, credentials })
        for (const { field, value } of samples) {
          const envelope: Smtp.Envelope = field === "from"
            ? { from: `a${value}@example.com`, to: ["b@example.org"] }
            : field === "to"
            ? { from: "a@example.com", to: [`b${value}@example.org`] }
            : field === "second"
            ? { from: "a@example.com", to: ["b@example.org", `${value}@example.org`] }
            : field === "envid"
            ? { from: "a@example.com", to: ["b@example.org"], dsn: { envid: value } }
            : { from: "a@example.com", to: [{ address: "b@example.org", orcpt: { type: "rfc822", address: value } }] }
          const r = reason(yield* Effect.exit(Smtp.send(smtp, envelope, "x\r\n")))
          assert.strictEqual(r._tag, "InvalidArgument", `${field} ${JSON.stringify(value)}`)
        }
        yield* Smtp.send(smtp, env, "still fine\r\n")
        yield* Smtp.close(smtp)
      }).pipe(Effect.scoped, Effect.provide(layer))
      const entries = server.connections()[0]!.entries
      assert.deepStrictEqual(
        entries.flatMap((e) => e._tag === "Command" && e.phase === "tls" ? [e.verb] : []),
        ["EHLO", "AUTH", "MAIL", "RCPT", "BDAT", "QUIT"]
      )
      assert.isFalse(entries.some((e) => e._tag === "BadLine"))
      for (const bad of ["evil", "\r"]) {
        const r = reason(yield* Effect.exit(Smtp.connect({ ...options, clientName: `x${bad}\nMAIL FROM:<a>` }).pipe(Effect.scoped, Effect.provide(layer))))
        assert.strictEqual(r._tag, "InvalidArgument")
      }
    }))

  // A transaction: recipients (some refused by the server), a body, the transfer.
  const transaction = fc.record({
    to: fc.subarray(["r1@example.org", "r2@example.org", "bad@example.org", "temp@example.org"], { minLength: 1 }),
    body: fc.array(fc.constantFrom("line", ".dot", "..", "", "caf\u00e9", "\n", "\r", "x".repeat(40)), { maxLength: 8 }).map((parts) => parts.join("\r\n")),
    transfer: fc.constantFrom<"DATA" | "BDAT" | undefined>("DATA", "BDAT", undefined),
    chunkSize: fc.constantFrom(5, 64, 1024 * 1024),
    stream: fc.boolean()
  })

  const normalise = (body: string) => {
    const crlf = body.replace(/\r\n|\r|\n/g, "\r\n")
    return crlf === "" || crlf.endsWith("\r\n") ? crlf : crlf + "\r\n"
  }

  it.live("random transaction sequences deliver exactly what the model predicts", () =>
    Effect.gen(function*() {
      const runs = fc.sample(
        fc.record({ pipelining: fc.boolean(), chunking: fc.boolean(), transactions: fc.array(transaction, { minLength: 1, maxLength: 6 }) }),
        { numRuns: 25, seed: 7 }
      )
      for (const run of runs) {
        const tls = [
          ...(run.pipelining ? ["PIPELINING"] : []),
          "SIZE 104857600",
          "AUTH PLAIN",
          "8BITMIME",
          "ENHANCEDSTATUSCODES",
          ...(run.chunking ? ["CHUNKING"] : [])
        ]
        const { layer, server } = yield* memoryServer({
          extensions: { tls },
          recipients: { "bad@example.org": "550 5.1.1 unknown", "temp@example.org": "450 4.2.1 busy" }
        })
        const expected: Array<{ readonly recipients: ReadonlyArray<string>; readonly body: string }> = []
        yield* Effect.gen(function*() {
          const smtp = yield* Smtp.session({ ...options, credentials })
          for (const t of run.transactions) {
            const accepted = t.to.filter((a) => a.startsWith("r"))
            const message = t.stream
              ? Stream.fromIterable([...new TextEncoder().encode(t.body)].map((b) => Uint8Array.of(b)))
              : t.body
            const transfer = t.transfer === "BDAT" && !run.chunking ? undefined : t.transfer
            const exit = yield* Effect.exit(
              Smtp.send(smtp, { from: "a@example.com", to: t.to }, message, { transfer, chunkSize: t.chunkSize })
            )
            if (accepted.length === 0) {
              assert.strictEqual(reason(exit)._tag, "NoRecipientAccepted")
            } else {
              if (exit._tag === "Failure") assert.fail(String(exit.cause))
              assert.deepStrictEqual(exit.value.accepted, accepted)
              assert.strictEqual(exit.value.transfer, transfer ?? (run.chunking ? "BDAT" : "DATA"))
              expected.push({ recipients: accepted, body: normalise(t.body) })
            }
          }
          yield* Smtp.close(smtp)
        }).pipe(Effect.scoped, Effect.provide(layer))
        const delivered = server.messages().map((m) => ({ recipients: m.recipients, body: Buffer.from(m.body).toString("utf8") }))
        assert.deepStrictEqual(delivered, expected)
      }
    }), 20_000)
})

void password
