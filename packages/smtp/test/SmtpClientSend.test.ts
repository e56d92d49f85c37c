/**
 * Transcript tests of mail transactions: PIPELINING, DATA and BDAT, every reply class at MAIL,
 * RCPT, DATA, BDAT and the end of the message, RSET between transactions, BODY / SMTPUTF8 / SIZE /
 * DSN / REQUIRETLS parameters, streamed messages, and what a broken connection means.
 */
import { assert, describe, it } from "@effect/vitest"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type * as Recording from "@starttls/testkit/Recording"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Smtp from "../src/SmtpClient.ts"
import { AUTH, credentials, GREETING, options, PLAIN_EHLO, QUIT, reason, scripted, STARTTLS } from "./ClientHarness.ts"

/** The secured, authenticated prefix with the given post-TLS EHLO keywords. */
const secured = (keywords: ReadonlyArray<string>) =>
  `${GREETING}${PLAIN_EHLO}${STARTTLS}
  C: EHLO client.example
  S: 250${keywords.length === 0 ? " " : "-"}mx.example
  ${keywords.map((k, i) => `S+ 250${i === keywords.length - 1 ? " " : "-"}${k}`).join("\n")}
  ${AUTH}`

/** Transcript `C:` lines for raw client bytes that end in CRLF. */
const c = (raw: string) => {
  assert.isTrue(raw.endsWith("\r\n"), "transcript bodies end in CRLF")
  return raw.slice(0, -2).split("\r\n").map((l) => `C: ${l.replace(/\\/g, "\\\\")}`).join("\n")
}

const FULL = ["PIPELINING", "SIZE 10000", "CHUNKING", "8BITMIME", "BINARYMIME", "SMTPUTF8", "DSN", "REQUIRETLS", "AUTH PLAIN"]
const NO_CHUNKING = ["PIPELINING", "SIZE 10000", "8BITMIME", "SMTPUTF8", "DSN", "AUTH PLAIN"]
const MINIMAL = ["AUTH PLAIN"]

const env = { from: "a@example.com", to: ["b@example.org"] }
const BODY = "Subject: hi\r\n\r\nHello\r\n"

/** A whole accepted transaction of `env` and `BODY` with PIPELINING, over DATA. */
const DATA_OK = `
  C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
  C: RCPT TO:<b@example.org>
  C: DATA
  S: 250 ok
  S+ 250 ok
  S+ 354 go
  ${c(BODY + ".\r\n")}
  S: 250 ok`
/** The same after a transaction that left state on the server: RSET rides in the flight. */
const RSET_DATA_OK = `
  C: RSET
  C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
  C: RCPT TO:<b@example.org>
  C: DATA
  S: 250 ok
  S+ 250 ok
  S+ 250 ok
  S+ 354 go
  ${c(BODY + ".\r\n")}
  S: 250 ok`
const RSET_BDAT_OK = `
  C: RSET
  C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
  C: RCPT TO:<b@example.org>
  C: BDAT ${BODY.length} LAST
  ${c(BODY)}
  S: 250 ok
  S+ 250 ok
  S+ 250 ok
  S+ 250 ok`

/** Runs `program` on an authenticated session over the transcript; QUIT is the caller's. */
const session = <A, E>(
  script: string,
  program: (smtp: Smtp.SmtpConnection<"Authenticated">) => Effect.Effect<A, E>,
  timeouts?: { readonly data?: number; readonly command?: number }
) =>
  Effect.gen(function*() {
    const { layer, recording } = yield* scripted(script)
    const exit = yield* Effect.exit(
      Effect.flatMap(
        Smtp.session({ ...options, timeouts: { ...options.timeouts, ...timeouts }, credentials }),
        program
      ).pipe(Effect.scoped, Effect.provide(layer))
    )
    return { exit, recording: yield* recording }
  })

const tlsChunks = (rec: Recording.Recording) =>
  rec.chunks.filter((ch) => ch.phase === "tls").map((ch) => Buffer.from(ch.bytes).toString("latin1"))

const ok = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) assert.fail(String(exit))
  return (exit as Exit.Success<A, E>).value
}

describe("send: DATA", () => {
  it.live("PIPELINING: MAIL, every RCPT and DATA in one write; 354; dot-stuffed body with CRLF line ends", () =>
    Effect.gen(function*() {
      const body = "Subject: dots\n\n.hidden\r\n..two\nlast line"
      const { exit, recording } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=44
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: DATA
        S: 250 2.1.0 Ok
        S+ 250 2.1.5 Ok
        S+ 250 2.1.5 Ok
        S+ 354 End data with <CR><LF>.<CR><LF>
        ${c("Subject: dots\r\n\r\n..hidden\r\n...two\r\nlast line\r\n.\r\n")}
        S: 250 2.0.0 Ok: queued as 1
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, { from: "a@example.com", to: ["b@example.org", "c@example.org"] }, body), () => Smtp.close(smtp))
      )
      const result = ok(exit)
      assert.deepStrictEqual(result.accepted, ["b@example.org", "c@example.org"])
      assert.strictEqual(result.transfer, "DATA")
      assert.strictEqual(result.size, 44)
      assert.strictEqual(result.untrustedText, "Ok: queued as 1")
      const chunks = tlsChunks(recording)
      assert.isTrue(chunks.some((ch) => ch.startsWith("MAIL FROM") && ch.endsWith("DATA\r\n")), chunks.join("|"))
    }))

  it.live("without PIPELINING every command waits for its reply", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* session(
        `${secured(MINIMAL)}
        C: MAIL FROM:<a@example.com>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@example.org>
        S: 550 5.1.1 unknown
        C: RCPT TO:<c@example.org>
        S: 250 2.1.5 Ok
        C: DATA
        S: 354 go
        ${c(BODY + ".\r\n")}
        S: 250 2.0.0 Ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, { from: "a@example.com", to: ["b@example.org", "c@example.org"] }, BODY), () => Smtp.close(smtp))
      )
      const result = ok(exit)
      assert.deepStrictEqual(result.accepted, ["c@example.org"])
      assert.deepStrictEqual(result.rejected.map((r) => [r.address, r.code, r.enhancedCode]), [["b@example.org", 550, "5.1.1"]])
      const chunks = tlsChunks(recording)
      for (const verb of ["MAIL", "RCPT TO:<b", "RCPT TO:<c", "DATA"]) {
        assert.isTrue(chunks.some((ch) => ch.startsWith(verb) && ch.split("\r\n").length === 2), verb)
      }
    }))

  for (const [reply, tag] of [["550 5.7.1 sender refused", "Permanent"], ["451 4.3.0 try later", "Transient"]] as const) {
    it.live(`MAIL ${reply.slice(0, 3)} → ${tag} MAIL after reading every reply of the flight; the next message needs no RSET`, () =>
      Effect.gen(function*() {
        const { exit } = yield* session(
          `${secured(NO_CHUNKING)}
          C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
          C: RCPT TO:<b@example.org>
          C: DATA
          S: ${reply}
          S+ 503 5.5.1 need MAIL
          S+ 503 5.5.1 need RCPT
          ${DATA_OK}
          ${QUIT}`,
          (smtp) =>
            Effect.gen(function*() {
              const first = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
              assert.strictEqual(first._tag, tag)
              if (first._tag === "Permanent" || first._tag === "Transient") {
                assert.strictEqual(first.command, "MAIL")
                assert.strictEqual(first.code, Number(reply.slice(0, 3)))
                assert.strictEqual(first.untrustedText, reply.slice(10))
              }
              yield* Smtp.send(smtp, env, BODY)
              yield* Smtp.close(smtp)
            })
        )
        ok(exit)
      }))
  }

  it.live("MAIL 421 → Transient 421 and the connection is closed (the handle is stale)", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 421 4.3.2 shutting down
        -- expect-close`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
            assert.strictEqual(r._tag, "Transient")
            if (r._tag === "Transient") assert.strictEqual(r.code, 421)
            const again = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
            assert.strictEqual(again._tag, "StaleConnection")
          })
      )
      ok(exit)
    }))

  it.live("every RCPT refused → NoRecipientAccepted (transient only if all were 4yz); the next flight starts with RSET", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: RCPT TO:<c@example.org>
        C: DATA
        S: 250 2.1.0 ok
        S+ 550 5.1.1 no
        S+ 450 4.2.1 busy
        S+ 554 5.5.1 Error: no valid recipients
        C: RSET
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 2.0.0 ok
        S+ 250 ok
        S+ 250 ok
        S+ 354 go
        ${c(BODY + ".\r\n")}
        S: 250 ok
        ${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, { ...env, to: ["b@example.org", "c@example.org"] }, BODY)))
            assert.strictEqual(r._tag, "NoRecipientAccepted")
            if (r._tag === "NoRecipientAccepted") {
              assert.deepStrictEqual(r.refusals.map((x) => x.code), [550, 450])
              assert.isFalse(r.transient)
            }
            yield* Smtp.send(smtp, env, BODY)
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
      assert.isTrue(tlsChunks(recording).some((ch) => ch.startsWith("RSET\r\nMAIL FROM")))
    }))

  it.live("every RCPT refused but DATA answered 354 (RFC 2920 §3.1): an empty message ends it", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 450 4.2.1 busy
        S+ 354 go ahead anyway
        C: .
        S: 554 5.5.1 no valid recipients
        ${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
            assert.strictEqual(r._tag, "NoRecipientAccepted")
            if (r._tag === "NoRecipientAccepted") assert.isTrue(r.transient)
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
    }))

  for (const [reply, tag] of [["554 5.5.1 no", "Permanent"], ["451 4.3.0 later", "Transient"]] as const) {
    it.live(`DATA ${reply.slice(0, 3)} → ${tag} DATA; nothing of the body is sent; RSET before the next`, () =>
      Effect.gen(function*() {
        const { exit } = yield* session(
          `${secured(NO_CHUNKING)}
          C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
          C: RCPT TO:<b@example.org>
          C: DATA
          S: 250 ok
          S+ 250 ok
          S+ ${reply}
          ${RSET_DATA_OK}
          ${QUIT}`,
          (smtp) =>
            Effect.gen(function*() {
              const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
              assert.strictEqual(r._tag, tag)
              if (r._tag === tag) assert.strictEqual(r.command, "DATA")
              yield* Smtp.send(smtp, env, BODY)
              yield* Smtp.close(smtp)
            })
        )
        ok(exit)
      }))
  }

  for (const [reply, tag] of [["550 5.7.1 spam", "Permanent"], ["452 4.3.1 full", "Transient"], ["421 4.3.2 bye", "Transient"]] as const) {
    it.live(`end of data ${reply.slice(0, 3)} → ${tag} "message" (not sent)${reply.startsWith("421") ? ", connection closed" : "; no RSET needed after"}`, () =>
      Effect.gen(function*() {
        const next = reply.startsWith("421")
          ? "-- expect-close"
          : `C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
             C: RCPT TO:<b@example.org>
             C: DATA
             S: 250 ok
             S+ 250 ok
             S+ 354 go
             ${c(BODY + ".\r\n")}
             S: 250 ok
             ${QUIT}`
        const { exit } = yield* session(
          `${secured(NO_CHUNKING)}
          C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
          C: RCPT TO:<b@example.org>
          C: DATA
          S: 250 ok
          S+ 250 ok
          S+ 354 go
          ${c(BODY + ".\r\n")}
          S: ${reply}
          ${next}`,
          (smtp) =>
            Effect.gen(function*() {
              const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
              assert.strictEqual(r._tag, tag)
              if (r._tag === tag) assert.strictEqual(r.command, "message")
              if (!reply.startsWith("421")) {
                yield* Smtp.send(smtp, env, BODY)
                yield* Smtp.close(smtp)
              }
            })
        )
        ok(exit)
      }))
  }

  it.live("several messages on one connection, each 2 round trips", () =>
    Effect.gen(function*() {
      const one = `
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        ${c(BODY + ".\r\n")}
        S: 250 ok`
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}${one}${one}${one}${QUIT}`,
        (smtp) => Effect.andThen(Effect.repeat(Smtp.send(smtp, env, BODY), { times: 2 }), Smtp.close(smtp))
      )
      ok(exit)
    }))
})

describe("send: BDAT (CHUNKING)", () => {
  it.live("one flight: MAIL, RCPT and BDAT LAST with the data; one round trip", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        S: 250 2.1.0 Ok
        S+ 250 2.1.5 Ok
        S+ 250 2.0.0 Ok: queued as X
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, BODY), () => Smtp.close(smtp))
      )
      const result = ok(exit)
      assert.strictEqual(result.transfer, "BDAT")
      assert.strictEqual(result.untrustedText, "Ok: queued as X")
      assert.isTrue(tlsChunks(recording).some((ch) => ch.startsWith("MAIL FROM") && ch.endsWith("Hello\r\n")))
    }))

  it.live("line ends are normalised and the last line completed, as with DATA; no dot-stuffing", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=17
        C: RCPT TO:<b@example.org>
        C: BDAT 17 LAST
        ${c("a\r\n.\r\nb\r\n\r\n.end\r\n")}
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, "a\n.\rb\r\n\n.end"), () => Smtp.close(smtp))
      )
      assert.strictEqual(ok(exit).size, 17)
    }))

  it.live("several chunks: the first with the envelope (wait), the rest pipelined; LAST carries the final reply", () =>
    Effect.gen(function*() {
      // 5 lines of 10 octets, chunks of 10.
      const body = "line-0001\r\nline-0002\r\nline-0003\r\nline-0004\r\nline-0005\r\n".replace(/\r\n/g, "\n").replace(/\n/g, "\r\n")
      const { exit, recording } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=55
        C: RCPT TO:<b@example.org>
        C: BDAT 11
        C: line-0001
        S: 250 ok
        S+ 250 ok
        S+ 250 2.0.0 11 octets received
        C: BDAT 11
        C: line-0002
        C: BDAT 11
        C: line-0003
        C: BDAT 11
        C: line-0004
        C: BDAT 11 LAST
        C: line-0005
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        S+ 250 2.0.0 queued
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, body, { chunkSize: 11 }), () => Smtp.close(smtp))
      )
      // The transcript answers chunks 2-5 only after all of them arrived: they were pipelined.
      assert.strictEqual(ok(exit).untrustedText, "queued")
      assert.isTrue(tlsChunks(recording).some((ch) => ch.includes("line-0001")))
    }))

  it.live("a refused chunk: no more chunks, the in-flight replies are read, Permanent BDAT, RSET next", () =>
    Effect.gen(function*() {
      const body = "line-0001\r\nline-0002\r\nline-0003\r\n"
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=33
        C: RCPT TO:<b@example.org>
        C: BDAT 11
        C: line-0001
        S: 250 ok
        S+ 250 ok
        S+ 552 5.3.4 too big
        ${RSET_BDAT_OK}
        ${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, body, { chunkSize: 11 })))
            assert.strictEqual(r._tag, "Permanent")
            if (r._tag === "Permanent") assert.strictEqual(r.command, "BDAT")
            yield* Smtp.send(smtp, env, BODY)
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
    }))

  it.live("a refused later chunk while others are in flight: every outstanding reply is read", () =>
    Effect.gen(function*() {
      const body = "line-0001\r\nline-0002\r\nline-0003\r\n"
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=33
        C: RCPT TO:<b@example.org>
        C: BDAT 11
        C: line-0001
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        C: BDAT 11
        C: line-0002
        C: BDAT 11 LAST
        C: line-0003
        S: 452 4.3.1 insufficient storage
        S+ 503 5.5.1 discarded
        ${RSET_BDAT_OK}
        ${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, body, { chunkSize: 11 })))
            assert.strictEqual(r._tag, "Transient")
            yield* Smtp.send(smtp, env, BODY)
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
    }))

  it.live("CHUNKING without PIPELINING: envelope step by step, then each chunk waits", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(["CHUNKING", "AUTH PLAIN"])}
        C: MAIL FROM:<a@example.com>
        S: 250 ok
        C: RCPT TO:<b@example.org>
        S: 250 ok
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        S: 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, BODY), () => Smtp.close(smtp))
      )
      ok(exit)
    }))

  it.live("the envelope refused in a BDAT flight: the chunk's refusal is read too", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        S: 250 ok
        S+ 550 5.1.1 unknown user
        S+ 554 5.5.1 no valid recipients
        C: RSET
        S: 250 ok
        ${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
            assert.strictEqual(r._tag, "NoRecipientAccepted")
            yield* Smtp.reset(smtp)
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
    }))

  it.live("transfer: \"DATA\" forces DATA even with CHUNKING", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        ${DATA_OK}
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, BODY, { transfer: "DATA" }), () => Smtp.close(smtp))
      )
      assert.strictEqual(ok(exit).transfer, "DATA")
    }))
})

describe("send: parameters from the message and the envelope", () => {
  const eight = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n"
  const eightLength = Buffer.byteLength(eight)

  it.live("8-bit body → BODY=8BITMIME (and SMTPUTF8 for UTF-8 headers, when offered)", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${eightLength} BODY=8BITMIME SMTPUTF8
        C: RCPT TO:<b@example.org>
        C: BDAT ${eightLength} LAST
        ${c(eight)}
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, eight), () => Smtp.close(smtp))
      )
      ok(exit)
    }))

  it.live("7-bit body: no BODY parameter; an explicit body type is sent as given", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length} BODY=7BIT
        C: RCPT TO:<b@example.org>
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, { ...env, body: "7BIT" }, BODY), () => Smtp.close(smtp))
      )
      ok(exit)
    }))

  it.live("NUL bytes → BODY=BINARYMIME over BDAT, bytes exact (no line-end rewriting)", () =>
    Effect.gen(function*() {
      const binary = "bin\x00ary\rbare cr\r\n"
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${binary.length} BODY=BINARYMIME
        C: RCPT TO:<b@example.org>
        C: BDAT ${binary.length} LAST
        C: bin\\x00ary\\rbare cr
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, new TextEncoder().encode(binary)), () => Smtp.close(smtp))
      )
      assert.strictEqual(ok(exit).size, binary.length)
    }))

  for (const [label, keywords, message, extension] of [
    ["8-bit body, no 8BITMIME", MINIMAL, eight, "8BITMIME"],
    ["NUL byte, no BINARYMIME", NO_CHUNKING, "a\x00b\r\n", "BINARYMIME"],
    ["non-ASCII mailbox, no SMTPUTF8", ["8BITMIME", "AUTH PLAIN"], BODY, "SMTPUTF8"],
    ["DSN asked, no DSN", MINIMAL, BODY, "DSN"],
    ["REQUIRETLS asked, not announced", MINIMAL, BODY, "REQUIRETLS"]
  ] as const) {
    it.live(`${label} → ExtensionUnavailable ${extension}, nothing written`, () =>
      Effect.gen(function*() {
        const envelope: Smtp.Envelope = extension === "SMTPUTF8"
          ? { from: "jos\u00e9@example.com", to: ["b@example.org"] }
          : extension === "DSN"
          ? { ...env, dsn: { ret: "HDRS" } }
          : extension === "REQUIRETLS"
          ? { ...env, requireTls: true }
          : env
        const { exit } = yield* session(
          `${secured(keywords)}${QUIT}`,
          (smtp) =>
            Effect.gen(function*() {
              const r = reason(yield* Effect.exit(Smtp.send(smtp, envelope, message)))
              assert.strictEqual(r._tag, "ExtensionUnavailable")
              if (r._tag === "ExtensionUnavailable") assert.strictEqual(r.extension, extension)
              yield* Smtp.close(smtp)
            })
        )
        ok(exit)
      }))
  }

  it.live("SIZE above the announced limit → MessageTooLarge, nothing written", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, "x".repeat(10_001))))
            assert.strictEqual(r._tag, "MessageTooLarge")
            if (r._tag === "MessageTooLarge") assert.deepStrictEqual([r.size, r.max], [10_003, 10_000])
            const streamed = reason(yield* Effect.exit(Smtp.send(smtp, { ...env, size: 20_000 }, Stream.make(new Uint8Array(1)))))
            assert.strictEqual(streamed._tag, "MessageTooLarge")
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
    }))

  it.live("SMTPUTF8 for a non-ASCII mailbox; without SMTPUTF8 an IDN domain goes out as A-labels", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<jos\u00e9@example.com> SIZE=${BODY.length} SMTPUTF8
        C: RCPT TO:<b@b\u00fccher.example>
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) =>
          Effect.tap(Smtp.send(smtp, { from: "jos\u00e9@example.com", to: ["b@b\u00fccher.example"] }, BODY), () => Smtp.close(smtp))
      )
      ok(exit)
      const second = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@xn--bcher-kva.example>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        ${c(BODY + ".\r\n")}
        S: 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, { from: "a@example.com", to: ["b@b\u00fccher.example"] }, BODY), () => Smtp.close(smtp))
      )
      assert.deepStrictEqual(ok(second.exit).accepted, ["b@b\u00fccher.example"])
    }))

  it.live("DSN: RET, ENVID (xtext), NOTIFY default and per recipient, ORCPT; REQUIRETLS", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length} RET=HDRS ENVID=id+2B1 REQUIRETLS
        C: RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY
        C: RCPT TO:<c@example.org> NOTIFY=NEVER ORCPT=rfc822;c@example.org
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) =>
          Effect.tap(
            Smtp.send(smtp, {
              from: "a@example.com",
              to: ["b@example.org", { address: "c@example.org", notify: "NEVER", orcpt: { type: "rfc822", address: "c@example.org" } }],
              dsn: { ret: "HDRS", envid: "id+1", notify: ["FAILURE", "DELAY"] },
              requireTls: true
            }, BODY),
            () => Smtp.close(smtp)
          )
      )
      ok(exit)
    }))

  it.live("CR, LF or NUL in any argument → InvalidArgument and nothing written (no command injection)", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* session(
        `${secured(FULL)}${QUIT}`,
        (smtp) =>
          Effect.gen(function*() {
            const cases: ReadonlyArray<readonly [Smtp.Envelope, string]> = [
              [{ from: "a@example.com>\r\nRCPT TO:<evil@example.net", to: ["b@example.org"] }, "envelope"],
              [{ from: "a@example.com", to: ["b@example.org>\r\nDATA"] }, "envelope.to[0]"],
              [{ from: "a@example.com", to: ["b@example.org", "c@example.org\n"] }, "envelope.to[1]"],
              [{ from: "a@example.com", to: ["b@example.org"], dsn: { envid: "x\r\nQUIT" } }, "envelope.envid"],
              [{ from: "a@example.com", to: [{ address: "b@example.org", orcpt: { type: "rfc822", address: "x\r\ny" } }] }, "envelope.to[0].orcpt"],
              [{ from: "a\u0000@example.com", to: ["b@example.org"] }, "envelope"],
              [{ from: "a@example.com", to: [] }, "envelope.to"]
            ]
            for (const [envelope, field] of cases) {
              const r = reason(yield* Effect.exit(Smtp.send(smtp, envelope, BODY)))
              assert.strictEqual(r._tag, "InvalidArgument")
              if (r._tag === "InvalidArgument") assert.strictEqual(r.field, field)
            }
            yield* Smtp.close(smtp)
          })
      )
      ok(exit)
      assert.deepStrictEqual(tlsChunks(recording).filter((ch) => !/^(EHLO|AUTH|QUIT)/.test(ch)), [])
    }))
})

class SourceBroke extends Data.TaggedError("SourceBroke")<{}> {}

describe("send: streamed messages", () => {
  const enc = (s: string) => new TextEncoder().encode(s)

  it.live("DATA: chunks are stuffed across boundaries and the last line completed", () =>
    Effect.gen(function*() {
      const stream = Stream.fromIterable(["Subject: s\r\n\r\n", ".", "dot\r", "\n.", "\r\nend"].map(enc))
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> BODY=8BITMIME
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        ${c("Subject: s\r\n\r\n..dot\r\n..\r\nend\r\n.\r\n")}
        S: 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, env, stream), () => Smtp.close(smtp))
      )
      assert.strictEqual(ok(exit).size, 28)
    }))

  it.live("BDAT: a stream smaller than a chunk is one flight; the declared size is sent", () =>
    Effect.gen(function*() {
      const stream = Stream.fromIterable(["Subject: s\r\n", "\r\nbody\n"].map(enc))
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=21 BODY=8BITMIME
        C: RCPT TO:<b@example.org>
        C: BDAT 20 LAST
        ${c("Subject: s\r\n\r\nbody\r\n")}
        S: 250 ok
        S+ 250 ok
        S+ 250 ok
        ${QUIT}`,
        (smtp) => Effect.tap(Smtp.send(smtp, { ...env, size: 21 }, stream), () => Smtp.close(smtp))
      )
      assert.strictEqual(ok(exit).size, 20)
    }))

  it.live("a stream that fails in the middle: the message is never terminated, the connection is closed", () =>
    Effect.gen(function*() {
      const stream = Stream.concat(
        Stream.make(enc("Subject: s\r\n")),
        Stream.fromEffect(Effect.andThen(Effect.sleep("20 millis"), Effect.fail(new SourceBroke())))
      )
      const { exit, recording } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> BODY=8BITMIME
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        C: Subject: s
        -- expect-close`,
        (smtp) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(Smtp.send(smtp, env, stream))
            assert.strictEqual(error._tag, "SourceBroke")
            assert.strictEqual(reason(yield* Effect.exit(Smtp.noop(smtp)))._tag, "StaleConnection")
          })
      )
      ok(exit)
      assert.deepStrictEqual(recording.outcome, { _tag: "Completed" })
    }))

  it.live("8-bit bytes in a stream when the server has no 8BITMIME: fails before the message ends, connection closed", () =>
    Effect.gen(function*() {
      const stream = Stream.fromIterable(["Subject: s\r\n\r\n", "caf\u00e9\r\n"].map(enc))
      const { exit } = yield* session(
        `${secured(["PIPELINING", "AUTH PLAIN"])}
        C: MAIL FROM:<a@example.com>
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        C: Subject: s
        C:
        -- expect-close`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, stream)))
            assert.strictEqual(r._tag, "ExtensionUnavailable")
          })
      )
      ok(exit)
    }))
})

describe("send: a broken connection is never reported as sent", () => {
  it.live("dropped after the end of the data, before the reply → OutcomeUnknown", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        ${c(BODY + ".\r\n")}
        -- close`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
            assert.strictEqual(r._tag, "OutcomeUnknown")
          })
      )
      ok(exit)
    }))

  it.live("BDAT LAST in the first flight, dropped before any reply → OutcomeUnknown", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(FULL)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: BDAT ${BODY.length} LAST
        ${c(BODY)}
        -- close`,
        (smtp) => Effect.map(Effect.exit(Smtp.send(smtp, env, BODY)), (e) => assert.strictEqual(reason(e)._tag, "OutcomeUnknown"))
      )
      ok(exit)
    }))

  it.live("no final reply within the data deadline → OutcomeUnknown, connection closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 ok
        S+ 250 ok
        S+ 354 go
        ${c(BODY + ".\r\n")}
        -- expect-close`,
        (smtp) =>
          Effect.gen(function*() {
            const r = reason(yield* Effect.exit(Smtp.send(smtp, env, BODY)))
            assert.strictEqual(r._tag, "OutcomeUnknown")
            if (r._tag === "OutcomeUnknown") assert.include(r.detail, "timed out")
          }),
        { data: 300 }
      )
      ok(exit)
    }))

  it.live("dropped during the envelope → MailError TransportFailure (certainly not sent)", () =>
    Effect.gen(function*() {
      const { exit } = yield* session(
        `${secured(NO_CHUNKING)}
        C: MAIL FROM:<a@example.com> SIZE=${BODY.length}
        C: RCPT TO:<b@example.org>
        C: DATA
        -- close`,
        (smtp) => Effect.map(Effect.exit(Smtp.send(smtp, env, BODY)), (e) => assert.strictEqual(reason(e)._tag, "TransportFailure"))
      )
      ok(exit)
    }))
})

describe("send on a Plain connection (dangerous policy only)", () => {
  it.live("HELO session: plain MAIL without parameters, DATA; 8-bit or REQUIRETLS refused", () =>
    Effect.gen(function*() {
      const { layer, recording } = yield* scripted(`
        ${GREETING}
        C: EHLO client.example
        S: 502 5.5.1 no
        C: HELO client.example
        S: 250 mx
        C: MAIL FROM:<a@example.com>
        S: 250 ok
        C: RCPT TO:<b@example.org>
        S: 250 ok
        C: DATA
        S: 354 go
        ${c(BODY + ".\r\n")}
        S: 250 ok
        ${QUIT}`)
      const exit = yield* Effect.exit(
        Effect.gen(function*() {
          const smtp = yield* Smtp.opportunistic(options)
          assert.strictEqual(smtp.state, "Plain")
          assert.strictEqual(reason(yield* Effect.exit(Smtp.send(smtp, env, "caf\u00e9\r\n")))._tag, "ExtensionUnavailable")
          assert.strictEqual(reason(yield* Effect.exit(Smtp.send(smtp, { ...env, requireTls: true }, BODY)))._tag, "ExtensionUnavailable")
          const result = yield* Smtp.send(smtp, env, BODY)
          yield* Smtp.close(smtp)
          return result
        }).pipe(Effect.scoped, Effect.provide(Layer.merge(layer, TlsPolicy.opportunisticStartTlsDangerously)))
      )
      assert.deepStrictEqual(ok(exit).accepted, ["b@example.org"])
      yield* recording
    }))
})
