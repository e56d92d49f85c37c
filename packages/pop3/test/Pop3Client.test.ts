/**
 * Transcript tests of the POP3 client: the exact bytes of every command, and every class of answer
 * (`+OK`, `-ERR` with and without a response code, multi-line listings, dot-stuffed bodies,
 * malformed answers, a dropped connection), for the logins (AUTH, USER/PASS, APOP) and the
 * TRANSACTION commands, sequential and pipelined.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import type { Transport } from "@starttls/core/Transport"
import { errorOf, reasonOf } from "@starttls/testkit/Failures"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Pop3Command from "../src/Pop3Command.ts"
import type * as Pop3Error from "../src/Pop3Error.ts"
import * as H from "./ClientHarness.ts"

const SECRET = "pa55 word"
const credentials = Credentials.password({ username: "test", password: Redacted.make(SECRET) })
const AUTH_PLAIN = `AUTH PLAIN ${Buffer.from(`\0test\0${SECRET}`).toString("base64")}`

/** Greeting, STLS, CAPA over TLS (with `caps`), AUTH PLAIN. */
const prefix = (caps: ReadonlyArray<string>) => `
  S: +OK POP3 ready <42.17@example.org>
  C: STLS
  S: +OK Begin TLS negotiation now.
  -- starttls
  C: CAPA
  S: +OK
  ${caps.map((c) => `S+ ${c}`).join("\n")}
  S+ .
  C: ${AUTH_PLAIN}
  S: +OK Logged in.
`
const SEQUENTIAL = prefix(["TOP", "UIDL", "USER", "SASL PLAIN"])
const PIPELINED = prefix(["TOP", "UIDL", "USER", "PIPELINING", "SASL PLAIN"])
const PREFIX_BYTES = `CAPA\r\n${AUTH_PLAIN}\r\n`

type Authed = Pop3Client.Pop3Connection<"Authenticated">

/** Runs `f` on an authenticated session scripted by `prefix + rest`; returns its exit and recording. */
const transcript = <A, E>(
  rest: string,
  f: (connection: Authed) => Effect.Effect<A, E>,
  head: string = SEQUENTIAL
) =>
  Effect.gen(function*() {
    const script = H.scripted(head + rest)
    const program: Effect.Effect<A, E | MailError.MailError, Transport | Scope.Scope> = Effect.flatMap(
      Pop3Client.session({ ...H.options, credentials }),
      f
    )
    const exit = yield* Effect.exit(Effect.scoped(program).pipe(Effect.provide(script.layer)))
    const recording = yield* script.recording
    return { exit, recording, sent: Recording.tlsClientBytes(recording).slice(PREFIX_BYTES.length) }
  })


const pop3Reason = (exit: Exit.Exit<unknown, unknown>): Pop3Error.Pop3ErrorReason => {
  const error = errorOf(exit) as Pop3Error.Pop3Error
  assert.strictEqual(error._tag, "Pop3Error")
  return error.reason
}

const collect = (stream: Stream.Stream<Uint8Array, unknown>) => Effect.map(Stream.mkUint8Array(stream), H.text)

const onSecure = <A>(f: (c: Pop3Client.Pop3Connection<"Secure">) => Effect.Effect<A, MailError.MailError>) =>
  Effect.flatMap(Pop3Client.secure(H.options), f)

const viaSession = Pop3Client.session({ ...H.options, credentials })

describe("logins", () => {
  it.live("AUTH PLAIN with initial response; -ERR [AUTH] → AuthenticationFailed with the code", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.against(
        `${H.stls(["SASL PLAIN"])}
        C: ${AUTH_PLAIN}
        S: -ERR [AUTH] Authentication failed.`,
        viaSession
      )
      const reason = reasonOf(exit)
      assert.deepStrictEqual(
        reason._tag === "AuthenticationFailed" ? [reason.mechanism, reason.code, reason.untrustedReply] : reason._tag,
        ["PLAIN", "AUTH", "Authentication failed."]
      )
    }))

  it.live("RFC 5034 §4: an initial response that would make AUTH exceed 255 octets goes after the first '+ '", () =>
    Effect.gen(function*() {
      const token = "t".repeat(400)
      const ir = Buffer.from(`user=test\x01auth=Bearer ${token}\x01\x01`).toString("base64")
      const { exit, recording } = yield* H.against(
        `${H.stls(["SASL XOAUTH2"])}
        C: AUTH XOAUTH2
        S: +
        C: ${ir}
        S: +OK Logged in.`,
        Effect.map(
          Pop3Client.session({ ...H.options, credentials: Credentials.oauth2({ username: "test", token: Redacted.make(token) }) }),
          (c) => c.state
        )
      )
      assert.strictEqual(H.value(exit), "Authenticated")
      assert.deepStrictEqual(H.tlsChunks(recording), ["CAPA\r\n", "AUTH XOAUTH2\r\n", `${ir}\r\n`])
    }))

  it.live("PLAIN at the 255-octet boundary: a 253-octet AUTH line inline, one more response byte deferred", () =>
    Effect.gen(function*() {
      // "\0test\0" + password: 180 bytes → 240 base64 → "AUTH PLAIN " + 240 + CRLF = 253 octets; 181 → 257.
      for (const [length, inline] of [[174, true], [175, false]] as const) {
        const password = "p".repeat(length)
        const ir = Buffer.from(`\0test\0${password}`).toString("base64")
        const exchange = inline ? `C: AUTH PLAIN ${ir}\nS: +OK` : `C: AUTH PLAIN\nS: + \nC: ${ir}\nS: +OK`
        const { exit, recording } = yield* H.against(
          `${H.stls(["SASL PLAIN"])}\n${exchange}`,
          Effect.map(
            Pop3Client.session({ ...H.options, credentials: Credentials.password({ username: "test", password: Redacted.make(password) }) }),
            (c) => c.state
          )
        )
        assert.strictEqual(H.value(exit), "Authenticated")
        const lines = H.tlsChunks(recording).slice(1)
        assert.deepStrictEqual(lines, inline ? [`AUTH PLAIN ${ir}\r\n`] : ["AUTH PLAIN\r\n", `${ir}\r\n`])
        assert.isAtMost(lines[0]!.length, 255)
      }
    }))

  it.live("AUTH LOGIN: challenges (+ base64) answered line by line", () =>
    Effect.gen(function*() {
      const b64 = (s: string) => Buffer.from(s).toString("base64")
      const { exit } = yield* H.against(
        `${H.stls(["SASL LOGIN"])}
        C: AUTH LOGIN
        S: + ${b64("Username:")}
        C: ${b64("test")}
        S: + ${b64("Password:")}
        C: ${b64(SECRET)}
        S: +OK Logged in.`,
        Effect.map(viaSession, (c) => c.state)
      )
      assert.strictEqual(H.value(exit), "Authenticated")
    }))

  it.live("a malformed challenge is a ProtocolViolation", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.against(`${H.stls(["SASL LOGIN"])}\nC: AUTH LOGIN\nS: + not*base64!`, viaSession)
      assert.strictEqual(reasonOf(exit)._tag, "ProtocolViolation")
    }))

  it.live("USER/PASS without PIPELINING: PASS waits for USER's +OK", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        `${H.stls(["USER"])}
        C: USER test
        S: +OK
        C: PASS ${SECRET}
        S: +OK Logged in.`,
        Effect.map(viaSession, (c) => c.state)
      )
      assert.strictEqual(H.value(exit), "Authenticated")
      assert.deepStrictEqual(H.tlsChunks(recording), ["CAPA\r\n", "USER test\r\n", `PASS ${SECRET}\r\n`])
    }))

  it.live("USER/PASS over TLS with PIPELINING: one flight; -ERR at USER or PASS → AuthenticationFailed", () =>
    Effect.gen(function*() {
      for (const [userReply, passReply] of [["+OK", "-ERR [AUTH] Authentication failed."], ["-ERR [SYS/TEMP] busy", "-ERR No username given."]]) {
        const { exit, recording } = yield* H.against(
          `${H.stls(["USER", "PIPELINING"])}
          C: USER test
          S: ${userReply}
          C: PASS ${SECRET}
          S: ${passReply}`,
          onSecure((c) => Pop3Client.login(c, credentials))
        )
        const reason = reasonOf(exit)
        assert.deepStrictEqual(
          reason._tag === "AuthenticationFailed" ? [reason.mechanism, reason.code] : reason._tag,
          ["USER", userReply === "+OK" ? "AUTH" : "SYS/TEMP"]
        )
        assert.deepStrictEqual(H.tlsChunks(recording), ["CAPA\r\n", `USER test\r\nPASS ${SECRET}\r\n`])
      }
    }))

  it.live("USER not advertised over TLS → NoUsableMechanism, nothing sent", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* H.against(
        H.stls(["SASL SCRAM-SHA-1"]),
        onSecure((c) => Pop3Client.login(c, credentials))
      )
      assert.strictEqual(reasonOf(exit)._tag, "NoUsableMechanism")
      assert.strictEqual(Recording.tlsClientBytes(recording), "CAPA\r\n")
    }))

  it.live("a user name with a space or CR LF is refused before anything is written", () =>
    Effect.gen(function*() {
      for (const username of ["two words", "evil\r\nDELE 1"]) {
        const { exit, recording } = yield* H.against(
          H.stls(["USER"]),
          onSecure((c) => Pop3Client.login(c, Credentials.password({ username, password: Redacted.make(SECRET) })))
        )
        const reason = reasonOf(exit)
        assert.strictEqual(reason._tag, "AuthenticationFailed")
        assert.notInclude(reason.message, SECRET)
        assert.strictEqual(Recording.tlsClientBytes(recording), "CAPA\r\n")
      }
    }))

  it.live("APOP: -ERR → AuthenticationFailed; no timestamp in the greeting → NoUsableMechanism", () =>
    Effect.gen(function*() {
      const apop = onSecure((c) => Pop3Client.apop(c, credentials))
      const refused = yield* H.against(
        `${H.stls([], { greeting: "+OK ready <7.7@x>" })}
        C* APOP test [0-9a-f]{32}
        S: -ERR [AUTH] no`,
        apop
      )
      assert.strictEqual(reasonOf(refused.exit)._tag, "AuthenticationFailed")
      const none = yield* H.against(H.stls([]), apop)
      assert.strictEqual(reasonOf(none.exit)._tag, "NoUsableMechanism")
      assert.strictEqual(Recording.tlsClientBytes(none.recording), "CAPA\r\n")
    }))
})

describe("TRANSACTION commands", () => {
  it.live("STAT: +OK n size; -ERR → Refused; a malformed answer → ProtocolViolation", () =>
    Effect.gen(function*() {
      const ok = yield* transcript(
        `
        C: STAT
        S: +OK 2 320 (extra words allowed)
        C: STAT
        S: -ERR [SYS/TEMP] try later
        C: STAT
        S: +OK many
        `,
        (c) =>
          Effect.all([
            Pop3Client.stat(c),
            Effect.exit(Pop3Client.stat(c)),
            Effect.exit(Pop3Client.stat(c))
          ])
      )
      const [stat, refused, malformed] = H.value(ok.exit)
      assert.deepStrictEqual(stat, { count: 2, size: 320 })
      const reason = pop3Reason(refused)
      assert.strictEqual(reason._tag, "Refused")
      if (reason._tag === "Refused") {
        assert.strictEqual(reason.command, "STAT")
        assert.strictEqual(reason.code, "SYS/TEMP")
        assert.strictEqual(reason.untrustedText, "try later")
        assert.notInclude(reason.message, "try later")
      }
      assert.strictEqual(reasonOf(malformed as Exit.Exit<unknown, MailError.MailError>)._tag, "ProtocolViolation")
      assert.strictEqual(ok.sent, "STAT\r\nSTAT\r\nSTAT\r\n")
    }))

  it.live("LIST and LIST n; UIDL and UIDL n (dot-stuffed lines, -ERR for a missing message)", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* transcript(
        `
        C: LIST
        S: +OK 2 messages (320 octets)
        S+ 1 120
        S+ 2 200
        S+ .
        C: LIST 2
        S: +OK 2 200
        C: LIST 9
        S: -ERR no such message
        C: UIDL
        S: +OK
        S+ 1 whqtswO00WBw418f9t5JxYwZ
        S+ 2 QhdPYR:00WBw1Ph7x7
        S+ .
        C: UIDL 1
        S: +OK 1 whqtswO00WBw418f9t5JxYwZ
        `,
        (c) =>
          Effect.all([
            Pop3Client.list(c),
            Pop3Client.listMessage(c, 2),
            Effect.exit(Pop3Client.listMessage(c, 9)),
            Pop3Client.uidl(c),
            Pop3Client.uidlMessage(c, 1)
          ])
      )
      const [all, two, missing, uids, one] = H.value(exit)
      assert.deepStrictEqual(all, [{ msg: 1, size: 120 }, { msg: 2, size: 200 }])
      assert.deepStrictEqual(two, { msg: 2, size: 200 })
      const reason = pop3Reason(missing)
      assert.deepStrictEqual([reason._tag, reason._tag === "Refused" ? reason.msg : 0], ["Refused", 9])
      assert.deepStrictEqual(uids, [{ msg: 1, uid: "whqtswO00WBw418f9t5JxYwZ" }, { msg: 2, uid: "QhdPYR:00WBw1Ph7x7" }])
      assert.deepStrictEqual(one, { msg: 1, uid: "whqtswO00WBw418f9t5JxYwZ" })
      assert.strictEqual(sent, "LIST\r\nLIST 2\r\nLIST 9\r\nUIDL\r\nUIDL 1\r\n")
    }))

  it.live("RETR streams the unstuffed body; TOP too; -ERR fails the stream with Refused", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* transcript(
        `
        C: RETR 1
        S: +OK 61 octets
        S+ Subject: dots
        S+ 
        S+ ..leading dot
        S+ ...
        S+ .. 
        S+ last line
        S+ .
        C: TOP 1 0
        S: +OK
        S+ Subject: dots
        S+ 
        S+ .
        C: RETR 7
        S: -ERR [SYS/PERM] no such message
        C: RETR 1
        S: +OK
        S+ .
        `,
        (c) =>
          Effect.all([
            collect(Pop3Client.retrieve(c, 1)),
            collect(Pop3Client.top(c, 1, 0)),
            Effect.exit(collect(Pop3Client.retrieve(c, 7))),
            collect(Pop3Client.retrieve(c, 1))
          ])
      )
      const [body, head, refused, empty] = H.value(exit)
      assert.strictEqual(body, "Subject: dots\r\n\r\n.leading dot\r\n..\r\n. \r\nlast line\r\n")
      assert.strictEqual(head, "Subject: dots\r\n\r\n")
      const reason = pop3Reason(refused)
      assert.deepStrictEqual([reason._tag, reason._tag === "Refused" ? reason.code : ""], ["Refused", "SYS/PERM"])
      assert.strictEqual(empty, "")
      assert.strictEqual(sent, "RETR 1\r\nTOP 1 0\r\nRETR 7\r\nRETR 1\r\n")
    }))

  it.live("a RETR stream stopped after the first chunk drains the rest: the next command reads its own answer", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: RETR 1
        S: +OK
        S+ first
        S: second
        S: third
        S+ .
        C: NOOP
        S: +OK
        `,
        (c) =>
          Effect.gen(function*() {
            const first = yield* collect(Stream.take(Pop3Client.retrieve(c, 1), 1))
            yield* Pop3Client.noop(c)
            return first
          })
      )
      assert.strictEqual(H.value(exit), "first\r\n")
    }))

  it.live("DELE, RSET, NOOP: +OK and -ERR", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* transcript(
        `
        C: DELE 1
        S: +OK message 1 deleted
        C: DELE 1
        S: -ERR message 1 already deleted
        C: RSET
        S: +OK maildrop has 2 messages
        C: NOOP
        S: +OK
        C: NOOP
        S: -ERR odd
        `,
        (c) =>
          Effect.all([
            Pop3Client.dele(c, 1),
            Effect.exit(Pop3Client.dele(c, 1)),
            Pop3Client.rset(c),
            Pop3Client.noop(c),
            Effect.exit(Pop3Client.noop(c))
          ])
      )
      const [, again, , , noop] = H.value(exit)
      assert.strictEqual(pop3Reason(again)._tag, "Refused")
      assert.strictEqual(pop3Reason(noop)._tag, "Refused")
      assert.strictEqual(sent, "DELE 1\r\nDELE 1\r\nRSET\r\nNOOP\r\nNOOP\r\n")
    }))

  it.live("an invalid message number is refused before anything is written", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* transcript(
        `
        C: NOOP
        S: +OK
        `,
        (c) =>
          Effect.gen(function*() {
            const results = [
              yield* Effect.exit(Pop3Client.dele(c, 0)),
              yield* Effect.exit(Pop3Client.listMessage(c, 1.5)),
              yield* Effect.exit(Stream.runDrain(Pop3Client.retrieve(c, -1)))
            ]
            yield* Pop3Client.noop(c)
            return results
          })
      )
      for (const result of H.value(exit)) assert.strictEqual(pop3Reason(result)._tag, "InvalidArgument")
      assert.strictEqual(sent, "NOOP\r\n")
    }))

  it.live("a dropped connection during RETR fails the stream (never a short success)", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: RETR 1
        S: +OK
        S+ partial line
        -- close
        `,
        (c) => collect(Pop3Client.retrieve(c, 1))
      )
      assert.strictEqual(reasonOf(exit as Exit.Exit<unknown, MailError.MailError>)._tag, "TransportFailure")
    }))
})

describe("QUIT and deletions (S12)", () => {
  it.live("+OK to QUIT: the marked messages are reported deleted, the handle is closed", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* transcript(
        `
        C: DELE 2
        S: +OK
        C: DELE 1
        S: +OK
        C: QUIT
        S: +OK bye, 2 messages deleted
        `,
        (c) =>
          Effect.gen(function*() {
            yield* Pop3Client.dele(c, 2)
            yield* Pop3Client.dele(c, 1)
            const result = yield* Pop3Client.quit(c)
            const stale = yield* Effect.exit(Pop3Client.stat(c))
            return { result, stale }
          })
      )
      const { result, stale } = H.value(exit)
      assert.deepStrictEqual(result, { committed: true, deleted: [1, 2] })
      assert.strictEqual(reasonOf(stale as Exit.Exit<unknown, MailError.MailError>)._tag, "StaleConnection")
      assert.strictEqual(sent, "DELE 2\r\nDELE 1\r\nQUIT\r\n")
    }))

  it.live("RSET unmarks: QUIT then deletes nothing", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: DELE 1
        S: +OK
        C: RSET
        S: +OK
        C: QUIT
        S: +OK
        `,
        (c) => Effect.andThen(Effect.andThen(Pop3Client.dele(c, 1), Pop3Client.rset(c)), Pop3Client.quit(c))
      )
      assert.deepStrictEqual(H.value(exit), { committed: true, deleted: [] })
    }))

  it.live("-ERR to QUIT with marked messages → NotCommitted Unknown (RFC 1939 §6)", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: DELE 1
        S: +OK
        C: QUIT
        S: -ERR some deleted messages not removed
        `,
        (c) => Effect.andThen(Pop3Client.dele(c, 1), Pop3Client.quit(c))
      )
      const reason = pop3Reason(exit)
      assert.strictEqual(reason._tag, "NotCommitted")
      if (reason._tag === "NotCommitted") {
        assert.strictEqual(reason.outcome, "Unknown")
        assert.deepStrictEqual(reason.marked, [1])
        assert.strictEqual(reason.untrustedText, "some deleted messages not removed")
      }
    }))

  it.live("the connection drops before QUIT's answer → NotCommitted Unknown, never success", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: DELE 3
        S: +OK
        C: QUIT
        -- close
        `,
        (c) => Effect.andThen(Pop3Client.dele(c, 3), Pop3Client.quit(c))
      )
      const reason = pop3Reason(exit)
      assert.deepStrictEqual([reason._tag, reason._tag === "NotCommitted" ? reason.outcome : ""], ["NotCommitted", "Unknown"])
    }))

  it.live("the connection drops before QUIT is sent → NotCommitted NotDeleted", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: DELE 3
        S: +OK
        C: NOOP
        -- close
        `,
        (c) =>
          Effect.gen(function*() {
            yield* Pop3Client.dele(c, 3)
            yield* Effect.exit(Pop3Client.noop(c))
            return yield* Pop3Client.quit(c)
          })
      )
      const reason = pop3Reason(exit)
      assert.deepStrictEqual([reason._tag, reason._tag === "NotCommitted" ? reason.outcome : ""], ["NotCommitted", "NotDeleted"])
    }))

  it.live("QUIT with nothing marked: +OK → nothing deleted", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* transcript(
        `
        C: QUIT
        S: +OK dewey POP3 server signing off
        `,
        Pop3Client.quit
      )
      assert.deepStrictEqual(H.value(exit), { committed: true, deleted: [] })
      assert.strictEqual(sent, "QUIT\r\n")
    }))
})

describe("PIPELINING (RFC 2449 §6.6)", () => {
  it.live("retrieveAll: every RETR in one write, answers matched in order", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* transcript(
        `
        C: RETR 3
        C: RETR 1
        C: RETR 2
        S: +OK
        S+ three
        S+ .
        S+ +OK
        S+ ..one
        S+ .
        S: +OK
        S+ two
        S+ .
        `,
        (c) => Stream.runCollect(Pop3Client.retrieveAll(c, [3, 1, 2])),
        PIPELINED
      )
      assert.deepStrictEqual(H.value(exit).map((m) => [m.msg, H.text(m.bytes)]), [[3, "three\r\n"], [1, ".one\r\n"], [2, "two\r\n"]])
      assert.deepStrictEqual(
        H.tlsChunks(recording).slice(2),
        ["RETR 3\r\nRETR 1\r\nRETR 2\r\n"]
      )
    }))

  it.live("without PIPELINING the same call sends one RETR at a time", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* transcript(
        `
        C: RETR 1
        S: +OK
        S+ one
        S+ .
        C: RETR 2
        S: +OK
        S+ two
        S+ .
        `,
        (c) => Stream.runCollect(Pop3Client.retrieveAll(c, [1, 2]))
      )
      assert.strictEqual(H.value(exit).length, 2)
      assert.deepStrictEqual(
        H.tlsChunks(recording).slice(2),
        ["RETR 1\r\n", "RETR 2\r\n"]
      )
    }))

  it.live("a window of 2 keeps at most 2 commands in flight", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* transcript(
        `
        C: DELE 1
        C: DELE 2
        S: +OK
        C: DELE 3
        S: +OK
        C: DELE 4
        S: -ERR [SYS/TEMP] no
        S: +OK
        `,
        (c) => Pop3Client.deleteMany(c, [1, 2, 3, 4], { window: 2 }),
        PIPELINED
      )
      const result = H.value(exit)
      assert.deepStrictEqual(result.marked, [1, 2, 4])
      assert.deepStrictEqual(result.refused.map((r) => [r.msg, r.code]), [[3, "SYS/TEMP"]])
      assert.deepStrictEqual(
        H.tlsChunks(recording).slice(2),
        ["DELE 1\r\nDELE 2\r\n", "DELE 3\r\n", "DELE 4\r\n"]
      )
    }))

  it.live("a -ERR in retrieveAll fails the stream after the answers in flight were read", () =>
    Effect.gen(function*() {
      const { exit } = yield* transcript(
        `
        C: RETR 1
        C: RETR 2
        C: RETR 3
        S: +OK
        S+ one
        S+ .
        S+ -ERR no such message
        S+ +OK
        S+ three
        S+ .
        C: NOOP
        S: +OK
        `,
        (c) =>
          Effect.gen(function*() {
            const failed = yield* Effect.exit(Stream.runCollect(Pop3Client.retrieveAll(c, [1, 2, 3])))
            yield* Pop3Client.noop(c)
            return failed
          }),
        PIPELINED
      )
      const reason = pop3Reason(H.value(exit))
      assert.deepStrictEqual([reason._tag, reason._tag === "Refused" ? reason.msg : 0], ["Refused", 2])
    }))

  it.live("pipeline: mixed commands in one flight, every answer class in order; DELE marks count for QUIT", () =>
    Effect.gen(function*() {
      const { exit, recording } = yield* transcript(
        `
        C: STAT
        C: LIST
        C: UIDL 1
        C: TOP 1 0
        C: DELE 1
        C: RETR 9
        C: NOOP
        S: +OK 1 9
        S+ +OK
        S+ 1 9
        S+ .
        S+ +OK 1 u1
        S+ +OK
        S+ H: v
        S+ .
        S+ +OK
        S+ -ERR no
        S+ +OK
        C: QUIT
        S: +OK
        `,
        (c) =>
          Effect.gen(function*() {
            const replies = yield* Pop3Client.pipeline(c, [
              Pop3Command.stat,
              Pop3Command.list(),
              Pop3Command.uidl(1),
              Pop3Command.top(1, 0),
              Pop3Command.dele(1),
              Pop3Command.retr(9),
              Pop3Command.noop
            ])
            return { replies, quit: yield* Pop3Client.quit(c) }
          }),
        PIPELINED
      )
      const { quit, replies } = H.value(exit)
      assert.deepStrictEqual(
        replies.map((r) => [r.command._tag, r.status._tag, r.status.text, r.lines, r.body === undefined ? undefined : H.text(r.body)]),
        [
          ["Stat", "Ok", "1 9", undefined, undefined],
          ["List", "Ok", "", ["1 9"], undefined],
          ["Uidl", "Ok", "1 u1", undefined, undefined],
          ["Top", "Ok", "", undefined, "H: v\r\n"],
          ["Dele", "Ok", "", undefined, undefined],
          ["Retr", "Err", "no", undefined, undefined],
          ["Noop", "Ok", "", undefined, undefined]
        ]
      )
      assert.deepStrictEqual(quit, { committed: true, deleted: [1] })
      assert.strictEqual(
        H.tlsChunks(recording)[2],
        "STAT\r\nLIST\r\nUIDL 1\r\nTOP 1 0\r\nDELE 1\r\nRETR 9\r\nNOOP\r\n"
      )
    }))

  it.live("a collected body over maxLiteralSize → LimitExceeded", () =>
    Effect.gen(function*() {
      const script = H.scripted(`${PIPELINED}
        C: RETR 1
        S: +OK
        S+ ${"x".repeat(200)}
        S+ .
      `)
      const exit = yield* Effect.exit(
        Effect.flatMap(
          Pop3Client.session({ ...H.options, credentials, limits: { maxLiteralSize: 100 } }),
          (c) => Stream.runCollect(Pop3Client.retrieveAll(c, [1]))
        ).pipe(Effect.scoped, Effect.provide(script.layer))
      )
      const reason = reasonOf(exit as Exit.Exit<unknown, MailError.MailError>)
      assert.deepStrictEqual([reason._tag, reason._tag === "LimitExceeded" ? reason.limit : ""], ["LimitExceeded", "maxLiteralSize"])
    }))
})
