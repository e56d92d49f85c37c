/**
 * Transcript tests of the IMAP client: every command's exact bytes and every class of reply, played
 * by the testkit's ScriptedServer over an in-memory pair with real TLS.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import * as Recording from "@starttls/testkit/Recording"
import { errorOf, reasonOf } from "@starttls/testkit/Failures"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as H from "./ImapHarness.ts"

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes))
const login = ImapClient.session({ ...H.options, credentials: H.credentials })
const selectInbox = Effect.flatMap(login, (imap) => ImapClient.select(imap, "INBOX"))
const imapReason = <A>(exit: Exit.Exit<A, ImapError.ImapError | unknown>): ImapError.ImapErrorReason => {
  const error = errorOf(exit) as ImapError.ImapError
  assert.strictEqual(error._tag, "ImapError")
  return error.reason
}
const LOGOUT = String.raw`
  C* A\d+ LOGOUT
  S: * BYE Logging out
  S+ <t> OK Logout completed.
`

describe("negotiation", () => {
  it.live("STARTTLS straight after the greeting, CAPABILITY over TLS, AUTHENTICATE PLAIN with SASL-IR", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        H.LOGGED_IN + LOGOUT,
        Effect.gen(function*() {
          const imap = yield* login
          // The capabilities of the tagged OK are used: no CAPABILITY after authentication.
          const caps = yield* ImapClient.capabilities(imap)
          assert.isTrue(caps.uidplus && caps.move)
          yield* ImapClient.logout(imap)
          assert.strictEqual(Connection.runtimeState(imap), "Closed")
        })
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 STARTTLS\r\n")
    }))

  it.live("without SASL-IR the initial response waits for the server's empty challenge", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4rev1 AUTH=PLAIN
          S+ A2 OK done
          C: A3 AUTHENTICATE PLAIN
          S: +
          C: ${H.plain}
          S: A3 OK Logged in
          C: A4 CAPABILITY
          S: * CAPABILITY IMAP4rev1 IDLE
          S+ A4 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          // No CAPABILITY code in the OK: the capabilities are asked again (RFC 9051 §6.2.2).
          assert.isTrue((yield* ImapClient.capabilities(imap)).idle)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("pipelined session: AUTHENTICATE goes with the post-TLS CAPABILITY, before its answer", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready
          C: A1 STARTTLS
          S: A1 OK go
          -- starttls
          C: A2 CAPABILITY
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: * CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN
          S+ A2 OK done
          S+ A3 OK [CAPABILITY IMAP4rev1 MOVE] Logged in
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({
            ...H.options,
            credentials: H.credentials,
            authenticate: { mechanisms: ["PLAIN"] }
          })
          assert.isTrue((yield* ImapClient.capabilities(imap)).move)
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 STARTTLS\r\n")
    }))

  it.live("pipelined session against a server without the mechanism: NoUsableMechanism, connection closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: * CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256
          S+ A2 OK done
          -- expect-close
        `,
        ImapClient.session({ ...H.options, credentials: H.credentials, authenticate: { mechanisms: ["PLAIN"] } })
      )
      assert.strictEqual(reasonOf(exit)._tag, "NoUsableMechanism")
    }))

  it.live("implicit TLS: the greeting's capabilities are used, authentication right away", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready
          C: A1 AUTHENTICATE PLAIN ${H.plain}
          S: A1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...H.options, port: 993, credentials: H.credentials })
          assert.isTrue((yield* ImapClient.capabilities(imap)).idle)
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(Recording.plaintextClientBytes(rec), "")
    }))

  it.live("implicit TLS PREAUTH: Authenticated without credentials (ATTACKS.md A26 c)", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * PREAUTH [CAPABILITY IMAP4rev1] welcome
          C: A1 NOOP
          S: A1 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...H.options, port: 993, credentials: H.credentials })
          assert.strictEqual(imap.state, "Authenticated")
          yield* ImapClient.noop(imap)
        })
      )
      H.assertSuccess(exit)
      assert.notInclude(Recording.tlsClientBytes(rec), "AUTHENTICATE")
    }))

  it.live("untrustedCapabilities: the greeting's list, else a CAPABILITY in plaintext; forgotten at STARTTLS", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          S: * OK ready
          C: A1 CAPABILITY
          S: * CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED
          S+ A1 OK done
          C: A2 STARTTLS
          S: A2 OK go
          -- starttls
          C: A3 CAPABILITY
          S: * CAPABILITY IMAP4rev1 AUTH=PLAIN
          S+ A3 OK done
        `,
        Effect.gen(function*() {
          const plain = yield* ImapClient.connect(H.options)
          const before = yield* ImapClient.untrustedCapabilities(plain)
          assert.isTrue(before.loginDisabled)
          const secure = yield* ImapClient.startTls(plain)
          assert.strictEqual(secure.session.plaintextCapabilities, undefined)
          assert.deepStrictEqual((yield* ImapClient.capabilities(secure)).raw, ["IMAP4rev1", "AUTH=PLAIN"])
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 CAPABILITY\r\nA2 STARTTLS\r\n")
    }))

  it.live("LOGIN command over TLS, capabilities from its OK", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4rev1
          S+ A2 OK done
          C: A3 LOGIN alice s3cret-pw
          S: A3 OK [CAPABILITY IMAP4rev1 UNSELECT] Logged in
        `,
        Effect.gen(function*() {
          const secure = yield* H.upgraded
          const imap = yield* ImapClient.login(secure, "alice", Redacted.make(H.password))
          assert.isTrue((yield* ImapClient.capabilities(imap)).unselect)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("LOGIN refused by the server: AuthenticationFailed, text kept as untrusted", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4rev1
          S+ A2 OK done
          C: A3 LOGIN alice s3cret-pw
          S: A3 NO [AUTHENTICATIONFAILED] Authentication failed.
        `,
        Effect.gen(function*() {
          const secure = yield* H.upgraded
          return yield* ImapClient.login(secure, "alice", Redacted.make(H.password))
        })
      )
      const reason = H.reason(exit)
      assert.strictEqual(reason._tag, "AuthenticationFailed")
      if (reason._tag === "AuthenticationFailed") {
        assert.strictEqual(reason.code, "AUTHENTICATIONFAILED")
        assert.strictEqual(reason.untrustedReply, "Authentication failed.")
        assert.notInclude(reason.message, "Authentication failed.")
      }
    }))

  it.live("AUTHENTICATE refused: AuthenticationFailed with the response code", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN
          S+ A2 OK done
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: A3 NO [AUTHENTICATIONFAILED] Authentication failed.
        `,
        login
      )
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "AuthenticationFailed")
      if (reason._tag === "AuthenticationFailed") assert.strictEqual(reason.code, "AUTHENTICATIONFAILED")
    }))

  it.live("OAuth2 credentials: XOAUTH2 with the fetched token", () =>
    Effect.gen(function*() {
      const token = Buffer.from("user=alice\x01auth=Bearer tok\x01\x01").toString("base64")
      const { exit } = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2
          S+ A2 OK done
          C: A3 AUTHENTICATE XOAUTH2 ${token}
          S: A3 OK Logged in
        `,
        ImapClient.session({
          ...H.options,
          credentials: Credentials.oauth2({ username: "alice", token: Redacted.make("tok") })
        })
      )
      H.assertSuccess(exit)
    }))
})

describe("mailbox commands", () => {
  it.live("SELECT: typed status; EXAMINE: read-only", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 EXAMINE Archive
          S: * FLAGS (\\Seen)
          S+ * 7 EXISTS
          S+ * OK [UIDVALIDITY 42] ok
          S+ * OK [UIDNEXT 8] ok
          S+ * OK [HIGHESTMODSEQ 99] ok
          S+ A5 OK [READ-ONLY] Examine completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          assert.deepStrictEqual(inbox.status, {
            name: "INBOX",
            readOnly: false,
            exists: 3,
            recent: 0,
            flags: ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"],
            permanentFlags: ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\*"],
            uidValidity: 1700000000,
            uidNext: 4,
            firstUnseen: undefined,
            highestModSeq: undefined
          })
          const archive = yield* ImapClient.examine(inbox.connection, "Archive")
          assert.isTrue(archive.status.readOnly)
          assert.strictEqual(archive.status.exists, 7)
          assert.strictEqual(archive.status.highestModSeq, 99n)
          // Selecting another mailbox made the first handle stale.
          const stale = H.reason(yield* Effect.exit(ImapClient.search(inbox, SearchCriteria.all)))
          assert.strictEqual(stale._tag, "StaleConnection")
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("SELECT refused: ImapError No with the code; no mailbox stays selected", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 SELECT Nope
          S: A5 NO [NONEXISTENT] Mailbox doesn't exist: Nope
          C: A6 NOOP
          S: A6 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const reason = imapReason(yield* Effect.exit(ImapClient.select(inbox, "Nope")))
          assert.strictEqual(reason._tag, "No")
          if (reason._tag === "No") {
            assert.strictEqual(reason.code, "NONEXISTENT")
            assert.strictEqual(reason.untrustedText, "Mailbox doesn't exist: Nope")
          }
          assert.strictEqual(reasonOf(yield* Effect.exit(ImapClient.mailbox(inbox)))._tag, "StaleConnection")
          // The Authenticated handle is still good.
          yield* ImapClient.noop(inbox.connection)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("CLOSE and UNSELECT return to Authenticated; UNSELECT needs its capability", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 CLOSE
          S: A5 OK Close completed.
          C: A6 SELECT INBOX
          S: * 3 EXISTS
          S+ A6 OK [READ-WRITE] done
          C: A7 UNSELECT
          S: A7 OK Unselect completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const authed = yield* ImapClient.closeMailbox(inbox)
          assert.strictEqual(authed.state, "Authenticated")
          assert.strictEqual(H.reason(yield* Effect.exit(ImapClient.expunge(inbox)))._tag, "StaleConnection")
          const again = yield* ImapClient.select(authed, "INBOX")
          yield* ImapClient.unselect(again)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("UNSELECT without the capability: MissingCapability, nothing sent", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * PREAUTH [CAPABILITY IMAP4rev1] hi
          C: A1 SELECT INBOX
          S: A1 OK [READ-WRITE] done
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.connectTls({ ...H.options, port: 993 })
          if (imap.state !== "Authenticated") return yield* Effect.die("expected PREAUTH")
          const inbox = yield* ImapClient.select(imap as ImapClient.ImapConnection<"Authenticated">, "INBOX")
          return yield* ImapClient.unselect(inbox)
        })
      )
      const reason = imapReason(exit)
      assert.strictEqual(reason._tag, "MissingCapability")
      assert.strictEqual(rec.extraAfterScript.length, 0)
    }))

  it.live("LIST with special-use (RETURN (SPECIAL-USE)), modified UTF-7 names decoded, only this command's answers", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 LIST "" * RETURN (SPECIAL-USE)
          S: * LIST (\\HasNoChildren) "/" INBOX
          S+ * LIST (\\HasNoChildren \\Sent) "/" "Sent Items"
          S+ * LIST (\\Noselect \\HasChildren) "/" Gr&APw-n
          S+ * STATUS INBOX (MESSAGES 1)
          S+ A4 OK List completed.
          C: A5 LIST (SUBSCRIBED) "" % RETURN (SPECIAL-USE)
          S: * LIST (\\Subscribed) "/" INBOX
          S+ A5 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const entries = yield* ImapClient.list(imap)
          assert.deepStrictEqual(entries.map((e) => [e.name, e.specialUse, e.selectable, e.delimiter]), [
            ["INBOX", undefined, true, "/"],
            ["Sent Items", "\\Sent", true, "/"],
            ["Grün", undefined, false, "/"]
          ])
          assert.strictEqual(entries[2]!.wireName, "Gr&APw-n")
          const subscribed = yield* ImapClient.list(imap, { pattern: "%", subscribed: true })
          assert.deepStrictEqual(subscribed.map((e) => e.name), ["INBOX"])
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("LIST and LSUB on an IMAP4rev1 server without LIST-EXTENDED", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * PREAUTH [CAPABILITY IMAP4rev1] hi
          C: A1 LIST "" *
          S: * LIST () "." INBOX
          S+ A1 OK done
          C: A2 LSUB "" *
          S: * LSUB () "." INBOX.Sent
          S+ A2 OK done
        `,
        Effect.gen(function*() {
          const imap = (yield* ImapClient.connectTls({ ...H.options, port: 993 })) as ImapClient.ImapConnection<"Authenticated">
          assert.deepStrictEqual((yield* ImapClient.list(imap)).map((e) => e.name), ["INBOX"])
          assert.deepStrictEqual((yield* ImapClient.list(imap, { subscribed: true })).map((e) => e.name), ["INBOX.Sent"])
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("STATUS", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)
          S: * STATUS INBOX (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 7 UNSEEN 5)
          S+ A4 OK Status completed.
          C: A5 STATUS Archive (SIZE)
          S: * STATUS Archive (SIZE 1024)
          S+ A5 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.status(imap, "inbox")
          assert.deepStrictEqual(
            [inbox.name, inbox.messages, inbox.uidNext, inbox.uidValidity, inbox.unseen, inbox.size],
            ["INBOX", 231, 44292, 7, 5, undefined]
          )
          assert.strictEqual((yield* ImapClient.status(imap, "Archive", ["SIZE"])).size, 1024)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("CREATE, RENAME, SUBSCRIBE, UNSUBSCRIBE, DELETE; a NO keeps its code", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 CREATE "Work Items"
          S: A4 OK Create completed.
          C: A5 RENAME "Work Items" Archive/Work
          S: A5 OK Rename completed.
          C: A6 SUBSCRIBE Archive/Work
          S: A6 OK done
          C: A7 UNSUBSCRIBE Archive/Work
          S: A7 OK done
          C: A8 DELETE Archive/Work
          S: A8 OK Delete completed.
          C: A9 CREATE INBOX
          S: A9 NO [ALREADYEXISTS] Mailbox already exists
        `,
        Effect.gen(function*() {
          const imap = yield* login
          yield* ImapClient.create(imap, "Work Items")
          yield* ImapClient.rename(imap, "Work Items", "Archive/Work")
          yield* ImapClient.subscribe(imap, "Archive/Work")
          yield* ImapClient.unsubscribe(imap, "Archive/Work")
          yield* ImapClient.deleteMailbox(imap, "Archive/Work")
          const reason = imapReason(yield* Effect.exit(ImapClient.create(imap, "INBOX")))
          assert.strictEqual(reason._tag === "No" ? reason.code : reason._tag, "ALREADYEXISTS")
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("a mailbox name with CR/LF is refused before anything is written", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        H.LOGGED_IN,
        Effect.flatMap(login, (imap) => ImapClient.create(imap, "evil\r\nA9 LOGOUT"))
      )
      assert.strictEqual(imapReason(exit)._tag, "InvalidArgument")
      assert.strictEqual(rec.extraAfterScript.length, 0)
    }))
})

describe("message commands", () => {
  it.live("FETCH: typed messages as a stream; UID FETCH; unsolicited FETCH becomes an event, not a result", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 FETCH 1:2 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])
          S: * 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE "05-Jan-2024 09:08:07 +0000" RFC822.SIZE 42 ENVELOPE ("Fri, 5 Jan 2024 09:08:07 +0000" "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=" (("Alice" NIL "alice" "example.org")) NIL NIL (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>") BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: hello\r\n)
          S+ * 3 FETCH (FLAGS (\\Flagged))
          S+ * 2 FETCH (UID 2 FLAGS () INTERNALDATE "06-Jan-2024 00:00:00 +0000" RFC822.SIZE 7 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) BODY[HEADER.FIELDS (SUBJECT)] {2}\r\n\r\n)
          S+ A5 OK Fetch completed.
          C: A6 UID FETCH 2:* (UID FLAGS)
          S: * 2 FETCH (UID 2 FLAGS (\\Seen))
          S+ * 3 FETCH (UID 3 FLAGS ())
          S+ A6 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const events = yield* ImapClient.events(inbox)
          const messages = yield* Stream.runCollect(ImapClient.fetch(inbox, SequenceSet.range(1, 2), {
            uid: true,
            flags: true,
            internalDate: true,
            size: true,
            envelope: true,
            headers: ["SUBJECT"]
          }))
          assert.strictEqual(messages.length, 2)
          const [first, second] = messages
          assert.deepStrictEqual([first!.seq, first!.uid, first!.flags, first!.size], [1, 1, ["\\Seen"], 42])
          assert.strictEqual(first!.envelope?.subject, "Grüße")
          assert.strictEqual(text(first!.headers), "Subject: hello\r\n")
          assert.strictEqual(first!.internalDate, "05-Jan-2024 09:08:07 +0000")
          assert.deepStrictEqual([second!.seq, second!.uid, text(second!.headers)], [2, 2, "\r\n"])
          const byUid = yield* Stream.runCollect(
            ImapClient.fetch(inbox, SequenceSet.range(2, "*"), { flags: true }, { uid: true })
          )
          assert.deepStrictEqual(byUid.map((m) => [m.uid, m.flags]), [[2, ["\\Seen"]], [3, []]])
          const view = yield* ImapClient.mailbox(inbox)
          assert.deepStrictEqual(view.messages.map((m) => [m.seq, m.uid, m.flags]), [
            [1, 1, ["\\Seen"]],
            [2, 2, ["\\Seen"]],
            [3, 3, []]
          ])
          yield* ImapClient.logout(inbox)
          const seen = yield* Stream.runCollect(events)
          assert.deepStrictEqual(seen, [
            { _tag: "FlagsChanged", mailbox: "INBOX", seq: 3, uid: undefined, flags: ["\\Flagged"] }
          ])
        })
      )
      H.assertSuccess(exit)
    }), { timeout: 60_000 })

  it.live("FETCH of literals the parser streams: assembled per message; the stream stops early and stays in step", () =>
    Effect.gen(function*() {
      const big = "x".repeat(300)
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 FETCH 1:3 (UID BODY.PEEK[])
          S: * 1 FETCH (UID 1 BODY[] {300}\r\n${big})
          S+ * 2 FETCH (UID 2 BODY[] {300}\r\n${big})
          S+ * 3 FETCH (UID 3 BODY[] {3}\r\nabc)
          S+ A5 OK Fetch completed.
          C: A6 NOOP
          S: A6 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, streamLiteralsAbove: 100 })
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const first = yield* Stream.runCollect(
            ImapClient.fetch(inbox, SequenceSet.range(1, 3), { uid: true, source: true }).pipe(Stream.take(1))
          )
          assert.deepStrictEqual(first.map((m) => [m.uid, text(m.source)]), [[1, big]])
          // The rest of the reply was read and dropped: the next command works.
          yield* ImapClient.noop(inbox)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("FETCH refused, and a streamed literal over maxLiteralSize: typed failures", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 FETCH 9 (FLAGS)
          S: A5 BAD Error in IMAP command FETCH: Invalid messageset
          C: A6 FETCH 1 (BODY.PEEK[])
          S: * 1 FETCH (BODY[] {5000}\r\n
          -- expect-close
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({
            ...H.options,
            credentials: H.credentials,
            streamLiteralsAbove: 100,
            limits: { maxLiteralSize: 1000 }
          })
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const bad = imapReason(yield* Effect.exit(Stream.runCollect(ImapClient.fetch(inbox, SequenceSet.single(9), { flags: true }))))
          assert.strictEqual(bad._tag, "Bad")
          return yield* Stream.runCollect(ImapClient.fetch(inbox, SequenceSet.single(1), { source: true }))
        })
      )
      const reason = H.reason(exit)
      assert.strictEqual(reason._tag, "LimitExceeded")
      if (reason._tag === "LimitExceeded") assert.strictEqual(reason.limit, "maxLiteralSize")
    }))

  it.live("download: one message's bytes as they arrive, at constant memory (streamed literal)", () =>
    Effect.gen(function*() {
      const body = "0123456789".repeat(50)
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 UID FETCH 3 (UID BODY.PEEK[])
          -- inject * 3 FETCH (UID 3 BODY[] {500}\r\n${body.slice(0, 200)}
          -- delay 5
          -- inject ${body.slice(200)})\r\n
          S: A5 OK Fetch completed.
          C: A6 FETCH 1 (BODY.PEEK[TEXT])
          S: * 1 FETCH (BODY[TEXT] {4}\r\nabcd)
          S+ A6 OK done
          C: A7 FETCH 2 (BODY.PEEK[])
          S: A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, streamLiteralsAbove: 100 })
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const chunks = yield* Stream.runCollect(ImapClient.download(inbox, 3, { uid: true }))
          assert.isAbove(chunks.length, 1)
          assert.strictEqual(Buffer.concat(chunks).toString(), body)
          const small = yield* Stream.runCollect(ImapClient.download(inbox, 1, { specifier: "TEXT" }))
          assert.strictEqual(Buffer.concat(small).toString(), "abcd")
          // No FETCH data for the message: NotFound, not an empty stream.
          const missing = imapReason(yield* Effect.exit(Stream.runCollect(ImapClient.download(inbox, 2))))
          assert.strictEqual(missing._tag, "NotFound")
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("STORE: +FLAGS returns the new flags and updates the view; .SILENT and UID STORE", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 STORE 1:2 +FLAGS (\\Seen)
          S: * 1 FETCH (FLAGS (\\Seen))
          S+ * 2 FETCH (FLAGS (\\Seen \\Answered))
          S+ A5 OK Store completed.
          C: A6 UID STORE 3 -FLAGS.SILENT (\\Seen)
          S: A6 OK Store completed.
          C: A7 STORE 1 FLAGS ($Label1)
          S: * 1 FETCH (FLAGS ($Label1))
          S+ A7 OK Store completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const results = yield* ImapClient.store(inbox, SequenceSet.range(1, 2), "add", ["\\Seen"])
          assert.deepStrictEqual(results, [
            { seq: 1, uid: undefined, flags: ["\\Seen"] },
            { seq: 2, uid: undefined, flags: ["\\Seen", "\\Answered"] }
          ])
          assert.deepStrictEqual(
            yield* ImapClient.store(inbox, SequenceSet.single(3), "remove", ["\\Seen"], { uid: true, silent: true }),
            []
          )
          yield* ImapClient.store(inbox, SequenceSet.single(1), "replace", ["$Label1"])
          const view = yield* ImapClient.mailbox(inbox)
          assert.deepStrictEqual(view.messages.map((m) => m.flags), [["$Label1"], ["\\Seen", "\\Answered"]])
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("SEARCH and UID SEARCH; non-ASCII strings with CHARSET UTF-8", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 SEARCH UNSEEN
          S: * SEARCH 2 3
          S+ A5 OK Search completed.
          C: A6 UID SEARCH FROM alice
          S: * SEARCH
          S+ A6 OK Search completed.
          C: A7 SEARCH CHARSET UTF-8 SUBJECT {7+}
          C: Grüße
          S: * SEARCH 1
          S+ A7 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          assert.deepStrictEqual(yield* ImapClient.search(inbox, SearchCriteria.unseen), [2, 3])
          assert.deepStrictEqual(yield* ImapClient.uidSearch(inbox, SearchCriteria.text("From", "alice")), [])
          assert.deepStrictEqual(yield* ImapClient.search(inbox, SearchCriteria.text("Subject", "Grüße")), [1])
        }),
        { maxLineLength: 100 }
      )
      H.assertSuccess(exit)
    }))
})

describe("APPEND", () => {
  it.live("LITERAL+: command, message and CRLF in one write; APPENDUID reported", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 APPEND Drafts (\\Draft \\Seen) "05-Jan-2024 09:08:07 +0000" {21+}
          C: Subject: hi
          C: 
          C: body
          S: A4 OK [APPENDUID 1700000000 17] Append completed.
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const result = yield* ImapClient.append(imap, "Drafts", new TextEncoder().encode("Subject: hi\r\n\r\nbody\r\n"), {
            flags: ["\\Draft", "\\Seen"],
            internalDate: new Date(Date.UTC(2024, 0, 5, 9, 8, 7))
          })
          assert.deepStrictEqual(result, { uidValidity: 1700000000, uid: 17 })
        })
      )
      H.assertSuccess(exit)
      const appendChunk = rec.chunks.find((c) => Buffer.from(c.bytes).toString().includes("APPEND"))
      assert.strictEqual(
        Buffer.from(appendChunk!.bytes).toString(),
        "A4 APPEND Drafts (\\Draft \\Seen) \"05-Jan-2024 09:08:07 +0000\" {21+}\r\nSubject: hi\r\n\r\nbody\r\n\r\n"
      )
    }))

  it.live("synchronizing literal: waits for the server's + before the message; a stream of known size", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * PREAUTH [CAPABILITY IMAP4rev1] hi
          C: A1 APPEND Sent {12}
          S: + Ready for literal data
          C: hello world!
          S: A1 OK Append completed.
          C: A2 APPEND Sent {3}
          S: A2 NO [TRYCREATE] Mailbox doesn't exist: Sent
        `,
        Effect.gen(function*() {
          const imap = (yield* ImapClient.connectTls({ ...H.options, port: 993 })) as ImapClient.ImapConnection<"Authenticated">
          const parts = ["hello", " ", "world!"].map((p) => new TextEncoder().encode(p))
          const result = yield* ImapClient.append(imap, "Sent", { size: 12, stream: Stream.fromIterable(parts) })
          assert.deepStrictEqual(result, { uidValidity: undefined, uid: undefined })
          // The server refuses before the literal: nothing more is sent.
          const reason = imapReason(yield* Effect.exit(ImapClient.append(imap, "Sent", new Uint8Array([1, 2, 3]))))
          assert.strictEqual(reason._tag === "No" ? reason.code : reason._tag, "TRYCREATE")
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("a stream shorter than announced: SizeMismatch, the connection is closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 APPEND Drafts {10+}
          -- expect-close
        `,
        Effect.flatMap(login, (imap) =>
          ImapClient.append(imap, "Drafts", { size: 10, stream: Stream.make(new Uint8Array(4)) }))
      )
      const reason = imapReason(exit)
      assert.strictEqual(reason._tag, "SizeMismatch")
      if (reason._tag === "SizeMismatch") assert.deepStrictEqual([reason.announced, reason.actual], [10, 4])
    }))
})

describe("COPY, MOVE, EXPUNGE", () => {
  it.live("COPY with COPYUID; MOVE with the untagged COPYUID and EXPUNGEs (view and events)", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 COPY 1:2 Archive
          S: A5 OK [COPYUID 42 1:2 7:8] Copy completed.
          C: A6 UID MOVE 3 Trash
          S: * OK [COPYUID 43 3 1] Moved UIDs.
          S+ * 3 EXPUNGE
          S+ A6 OK Move completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const events = yield* ImapClient.events(inbox)
          assert.deepStrictEqual(yield* ImapClient.copy(inbox, SequenceSet.range(1, 2), "Archive"), {
            uidValidity: 42,
            sourceUids: "1:2",
            destinationUids: "7:8"
          })
          const moved = yield* ImapClient.move(inbox, SequenceSet.single(3), "Trash", { uid: true })
          assert.strictEqual(moved.destinationUids, "1")
          assert.strictEqual((yield* ImapClient.mailbox(inbox)).status.exists, 2)
          yield* ImapClient.logout(inbox)
          assert.deepStrictEqual(yield* Stream.runCollect(events), [
            { _tag: "Expunge", mailbox: "INBOX", seq: 3, uid: undefined }
          ])
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("MOVE without the capability: MissingCapability, nothing sent", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * PREAUTH [CAPABILITY IMAP4rev1] hi
          C: A1 SELECT INBOX
          S: A1 OK done
        `,
        Effect.gen(function*() {
          const imap = (yield* ImapClient.connectTls({ ...H.options, port: 993 })) as ImapClient.ImapConnection<"Authenticated">
          return yield* ImapClient.move(yield* ImapClient.select(imap, "INBOX"), SequenceSet.single(1), "Trash")
        })
      )
      assert.strictEqual(imapReason(exit)._tag, "MissingCapability")
      assert.strictEqual(rec.extraAfterScript.length, 0)
    }))

  it.live("EXPUNGE returns the sequence numbers and renumbers the view; UID EXPUNGE", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 FETCH 1:3 (UID)
          S: * 1 FETCH (UID 10)
          S+ * 2 FETCH (UID 20)
          S+ * 3 FETCH (UID 30)
          S+ A5 OK done
          C: A6 EXPUNGE
          S: * 2 EXPUNGE
          S+ * 1 EXPUNGE
          S+ A6 OK Expunge completed.
          C: A7 UID EXPUNGE 30
          S: * 1 EXPUNGE
          S+ A7 OK Expunge completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          yield* Stream.runDrain(ImapClient.fetch(inbox, SequenceSet.range(1, 3), { uid: true }))
          assert.deepStrictEqual(yield* ImapClient.expunge(inbox), [2, 1])
          const view = yield* ImapClient.mailbox(inbox)
          assert.deepStrictEqual([view.status.exists, view.messages.map((m) => [m.seq, m.uid])], [1, [[1, 30]]])
          assert.deepStrictEqual(yield* ImapClient.uidExpunge(inbox, SequenceSet.single(30)), [1])
          assert.strictEqual((yield* ImapClient.mailbox(inbox)).status.exists, 0)
        })
      )
      H.assertSuccess(exit)
    }))
})

describe("unsolicited responses", () => {
  it.live("NOOP: EXISTS, RECENT, EXPUNGE, FETCH and FLAGS update the view and are events; ALERT over TLS is one", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: * 4 EXISTS
          S+ * 1 RECENT
          S+ * 2 FETCH (UID 2 FLAGS (\\Deleted))
          S+ * 1 EXPUNGE
          S+ * FLAGS (\\Seen $Junk)
          S+ * OK [ALERT] Maintenance at 22:00
          S+ * OK [UIDNEXT 9] next
          S+ A5 OK NOOP completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const events = yield* ImapClient.events(inbox)
          yield* ImapClient.noop(inbox)
          const view = yield* ImapClient.mailbox(inbox)
          assert.strictEqual(view.status.exists, 3)
          assert.strictEqual(view.status.recent, 1)
          assert.strictEqual(view.status.uidNext, 9)
          assert.deepStrictEqual(view.status.flags, ["\\Seen", "$Junk"])
          assert.deepStrictEqual(view.messages, [{ seq: 1, uid: 2, flags: ["\\Deleted"] }])
          yield* ImapClient.logout(inbox)
          assert.deepStrictEqual(yield* Stream.runCollect(events), [
            { _tag: "Exists", mailbox: "INBOX", count: 4 },
            { _tag: "Recent", mailbox: "INBOX", count: 1 },
            { _tag: "FlagsChanged", mailbox: "INBOX", seq: 2, uid: 2, flags: ["\\Deleted"] },
            { _tag: "Expunge", mailbox: "INBOX", seq: 1, uid: undefined },
            { _tag: "MailboxFlags", mailbox: "INBOX", flags: ["\\Seen", "$Junk"] },
            { _tag: "Alert", text: "Maintenance at 22:00" }
          ])
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("a BYE during a command: ImapError Bye with the text kept apart", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: * BYE Server shutting down
          -- close
        `,
        Effect.flatMap(selectInbox, ImapClient.noop)
      )
      const reason = imapReason(exit)
      assert.strictEqual(reason._tag, "Bye")
      if (reason._tag === "Bye") {
        assert.strictEqual(reason.untrustedText, "Server shutting down")
        assert.notInclude(reason.message, "shutting")
      }
    }))

  it.live("a tagged reply for a tag not in flight: ProtocolViolation, the connection is closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: A77 OK forged
          -- expect-close
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const exit = yield* Effect.exit(ImapClient.noop(inbox))
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Closed")
          return yield* exit
        })
      )
      const reason = H.reason(exit)
      assert.strictEqual(reason._tag, "ProtocolViolation")
      assert.include(reason.message, "not in flight")
    }))

  it.live("a continuation request nobody asked for: ProtocolViolation, nothing sent in answer", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: + send me your password
          -- expect-close
        `,
        Effect.flatMap(selectInbox, ImapClient.noop)
      )
      assert.strictEqual(H.reason(exit)._tag, "ProtocolViolation")
    }))

  it.live("two fibers on one connection: the second command is pipelined behind the first, each gets its own reply", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 SEARCH ALL
          -- delay 30
          S: * SEARCH 1 2 3
          S+ A5 OK done
          C: A6 NOOP
          S: A6 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* selectInbox
          const searching = yield* Effect.forkChild(ImapClient.search(inbox, SearchCriteria.all))
          yield* Effect.sleep("5 millis")
          yield* ImapClient.noop(inbox)
          assert.deepStrictEqual(yield* Fiber.join(searching), [1, 2, 3])
        })
      )
      H.assertSuccess(exit)
    }))
})

describe("IMAP4rev2 (RFC 9051) servers", () => {
  it.live("UTF-8 names, ESEARCH answers to SEARCH, UNSELECT / UID EXPUNGE / MOVE implied by IMAP4rev2", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * PREAUTH [CAPABILITY IMAP4rev2] ready
          C: A1 LIST "" * RETURN (SPECIAL-USE)
          S: * LIST () "/" INBOX
          S+ * LIST (\\Drafts) "/" "Entwürfe"
          S+ A1 OK done
          C: A2 CREATE "Grüße"
          S: A2 OK done
          C: A3 SELECT INBOX
          S: * 5 EXISTS
          S+ * FLAGS (\\Seen)
          S+ * OK [UIDVALIDITY 3] x
          S+ A3 OK [READ-WRITE] done
          C: A4 SEARCH UNSEEN
          S: * ESEARCH (TAG "A4") ALL 1:3,5
          S+ A4 OK done
          C: A5 UID MOVE 7 "Grüße"
          S: * OK [COPYUID 9 7 1] moved
          S+ * 4 EXPUNGE
          S+ A5 OK done
          C: A6 UID EXPUNGE 8
          S: A6 OK done
          C: A7 UNSELECT
          S: A7 OK done
        `,
        Effect.gen(function*() {
          const imap = (yield* ImapClient.connectTls({ ...H.options, port: 993 })) as ImapClient.ImapConnection<"Authenticated">
          const entries = yield* ImapClient.list(imap)
          assert.deepStrictEqual(entries.map((e) => [e.name, e.specialUse]), [["INBOX", undefined], ["Entwürfe", "\\Drafts"]])
          yield* ImapClient.create(imap, "Grüße")
          const inbox = yield* ImapClient.select(imap, "INBOX")
          assert.strictEqual(inbox.status.recent, undefined)
          assert.deepStrictEqual(yield* ImapClient.search(inbox, SearchCriteria.unseen), [1, 2, 3, 5])
          assert.strictEqual((yield* ImapClient.move(inbox, SequenceSet.single(7), "Grüße", { uid: true })).uidValidity, 9)
          assert.strictEqual((yield* ImapClient.mailbox(inbox)).status.exists, 4)
          yield* ImapClient.uidExpunge(inbox, SequenceSet.single(8))
          yield* ImapClient.unselect(inbox)
        })
      )
      H.assertSuccess(exit)
    }))
})
