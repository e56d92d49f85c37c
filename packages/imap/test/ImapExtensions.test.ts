/**
 * The IMAP extensions besides IDLE, pipelining and COMPRESS: exact client bytes per extension
 * (ENABLE, UTF8=ACCEPT, CONDSTORE, QRESYNC, ID, NAMESPACE, CREATE-SPECIAL-USE, MOVE and its
 * fallback), the typed refusals when a capability is missing (nothing written), the events kept
 * for a late subscriber and `download`'s NotFound; then end to end against the in-memory ImapServer.
 */
import { assert, describe, it } from "@effect/vitest"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapMailbox from "../src/ImapMailbox.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as X from "./ImapExtensionsHarness.ts"
import * as H from "./ImapHarness.ts"

const CONDSTORE = "IMAP4rev1 ENABLE CONDSTORE QRESYNC UIDPLUS LITERAL+"
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bytes = (s: string) => new TextEncoder().encode(s)

/** The reason of the failure `effect` must end with (the test fails on success). */
const refusal = <A, E extends { readonly reason: unknown }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => H.reason(exit))

describe("ENABLE (RFC 5161)", () => {
  it.live("only advertised extensions are sent; only what was asked counts; QRESYNC implies CONDSTORE", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 ENABLE QRESYNC
          S: * ENABLED QRESYNC X-UNASKED
          S+ A4 OK Enabled.
        `,
        Effect.flatMap(X.login, (imap) => ImapClient.enable(imap, ["QRESYNC", "UTF8=ACCEPT", "IMAP4rev2"]))
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, ["QRESYNC", "CONDSTORE"])
    }))

  it.live("nothing advertised to enable: nothing sent; no ENABLE: MissingCapability; after a SELECT: InvalidState", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev1 ENABLE LITERAL+")}
          C: A4 SELECT INBOX
          S: A4 OK [READ-WRITE] done
          C: A5 CLOSE
          S: A5 OK done
          C: A6 NOOP
          S: A6 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          assert.deepStrictEqual(yield* ImapClient.enable(imap, ["CONDSTORE", "UTF8=ACCEPT"]), [])
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const back = yield* ImapClient.closeMailbox(inbox)
          const late = yield* refusal(ImapClient.enable(back, ["CONDSTORE"]))
          yield* ImapClient.noop(back)
          return late
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(exit.value, { _tag: "InvalidState", command: "ENABLE" })
      const { exit: missing } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev1 LITERAL+")}
          C: A4 NOOP
          S: A4 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const reason = yield* refusal(ImapClient.enable(imap, ["CONDSTORE"]))
          yield* ImapClient.noop(imap)
          return reason
        })
      )
      H.assertSuccess(missing)
      if (Exit.isSuccess(missing)) assert.deepInclude(missing.value, { _tag: "MissingCapability", capability: "ENABLE" })
    }))
})

describe("UTF8=ACCEPT (RFC 6855)", () => {
  it.live("after ENABLE: UTF-8 mailbox names, APPEND as UTF8 (~{n+}), UTF-8 envelope text decoded", () =>
    Effect.gen(function*() {
      const message = "Subject: Grüße\r\n\r\nhi\r\n"
      const size = Buffer.byteLength(message)
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev1 ENABLE UTF8=ACCEPT UIDPLUS LITERAL+")}
          C: A4 CREATE Entw&APw-rfe
          S: A4 OK done
          C: A5 ENABLE UTF8=ACCEPT
          S: * ENABLED UTF8=ACCEPT
          S+ A5 OK Enabled.
          C: A6 CREATE "Entwürfe"
          S: A6 OK done
          C: A7 APPEND "Entwürfe" UTF8 (~{${size}+}
          C: Subject: Grüße
          C:
          C: hi
          C: )
          S: A7 OK [APPENDUID 7 1] Append completed.
          C: A8 APPEND "Entwürfe" {4+}
          C: abcd
          S: A8 OK [APPENDUID 7 2] Append completed.
          C: A9 SELECT "Entwürfe"
          S: * 2 EXISTS
          S+ A9 OK [READ-WRITE] done
          C: A10 FETCH 1 (ENVELOPE)
          S: * 1 FETCH (ENVELOPE (NIL "Grüße aus Köln" (("Jörg" NIL "joerg" "example.org")) NIL NIL NIL NIL NIL NIL NIL))
          S+ A10 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          // Before ENABLE: modified UTF-7.
          yield* ImapClient.create(imap, "Entwürfe")
          assert.deepStrictEqual(yield* ImapClient.enable(imap, ["UTF8=ACCEPT"]), ["UTF8=ACCEPT"])
          yield* ImapClient.create(imap, "Entwürfe")
          const appended = yield* ImapClient.append(imap, "Entwürfe", bytes(message))
          assert.strictEqual(appended.uid, 1)
          // An ASCII header goes as a plain literal.
          yield* ImapClient.append(imap, "Entwürfe", bytes("abcd"))
          const box = yield* ImapClient.select(imap, "Entwürfe")
          const [fetched] = yield* Stream.runCollect(ImapClient.fetch(box, SequenceSet.single(1), { envelope: true }))
          return fetched!.envelope
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value?.subject, "Grüße aus Köln")
        assert.deepInclude(exit.value?.from[0], { name: "Jörg", mailbox: "joerg" })
      }
    }))

  it.live("UTF8 APPEND without UTF-8 mode: InvalidArgument, nothing written", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev1 ENABLE UTF8=ACCEPT LITERAL+")}
          C: A5 NOOP
          S: A5 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          // (The refused command used tag A4: tags are never reused.)
          const reason = yield* refusal(ImapClient.append(imap, "INBOX", bytes("Subject: x\r\n\r\n"), { utf8: true }))
          yield* ImapClient.noop(imap)
          return reason
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(exit.value, { _tag: "InvalidArgument", command: "APPEND" })
    }))
})

describe("CONDSTORE (RFC 7162)", () => {
  it.live("SELECT (CONDSTORE), CHANGEDSINCE with MODSEQ, UNCHANGEDSINCE with MODIFIED as data, SEARCH MODSEQ, STATUS", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 SELECT INBOX (CONDSTORE)
          S: * 3 EXISTS
          S+ * OK [UIDVALIDITY 42] UIDs valid
          S+ * OK [HIGHESTMODSEQ 715194045007] Highest
          S+ A4 OK [READ-WRITE] Select completed.
          C: A5 UID FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 715194045000)
          S: * 2 FETCH (UID 6 FLAGS (\\Seen) MODSEQ (715194045005))
          S+ A5 OK done
          C: A6 STORE 1:3 (UNCHANGEDSINCE 715194045000) +FLAGS.SILENT (\\Deleted)
          S: * 1 FETCH (MODSEQ (715194045008))
          S+ A6 OK [MODIFIED 2:3] Conditional STORE failed
          C: A7 UID STORE 6 (UNCHANGEDSINCE 715194045008) +FLAGS (\\Flagged)
          S: * 2 FETCH (UID 6 FLAGS (\\Seen \\Flagged) MODSEQ (715194045009))
          S+ A7 OK done
          C: A8 SEARCH MODSEQ 715194045000
          S: * SEARCH 1 2 (MODSEQ 715194045009)
          S+ A8 OK done
          C: A9 STATUS INBOX (HIGHESTMODSEQ)
          S: * STATUS INBOX (HIGHESTMODSEQ 715194045009)
          S+ A9 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const inbox = yield* ImapClient.select(imap, "INBOX", { condstore: true })
          assert.strictEqual(inbox.status.highestModSeq, 715194045007n)
          const changed = yield* Stream.runCollect(
            ImapClient.fetch(inbox, SequenceSet.all, { flags: true, modseq: true }, { uid: true, changedSince: 715194045000n })
          )
          assert.deepStrictEqual(changed.map((m) => [m.uid, m.modseq]), [[6, 715194045005n]])
          const conditional = yield* ImapClient.store(inbox, SequenceSet.range(1, 3), "add", ["\\Deleted"], {
            silent: true,
            unchangedSince: 715194045000n
          })
          assert.deepStrictEqual(conditional.updated, [{ seq: 1, uid: undefined, flags: [], modseq: 715194045008n }])
          assert.strictEqual(SequenceSet.format(conditional.modified!), "2:3")
          const met = yield* ImapClient.store(inbox, SequenceSet.single(6), "add", ["\\Flagged"], {
            uid: true,
            unchangedSince: 715194045008n
          })
          assert.isUndefined(met.modified)
          assert.deepStrictEqual(met.updated.map((u) => [u.uid, u.modseq]), [[6, 715194045009n]])
          assert.deepStrictEqual(yield* ImapClient.search(inbox, SearchCriteria.modSeq(715194045000n)), [1, 2])
          const status = yield* ImapClient.status(imap, "INBOX", ["HIGHESTMODSEQ"])
          assert.strictEqual(status.highestModSeq, 715194045009n)
        })
      )
      H.assertSuccess(exit)
    }))

  it.live("searchWithModSeq: the numbers and the reported MODSEQ (SEARCH and ESEARCH forms), none when nothing matched", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 SELECT INBOX
          S: * 3 EXISTS
          S+ A4 OK [READ-WRITE] selected
          C: A5 UID SEARCH MODSEQ 100
          S: * SEARCH 6 9 (MODSEQ 917162500)
          S+ A5 OK done
          C: A6 SEARCH MODSEQ 200
          S: * ESEARCH (TAG "A6") ALL 2:3 MODSEQ 917162507
          S+ A6 OK done
          C: A7 SEARCH MODSEQ 300
          S: * SEARCH
          S+ A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          return [
            yield* ImapClient.searchWithModSeq(inbox, SearchCriteria.modSeq(100), { uid: true }),
            yield* ImapClient.searchWithModSeq(inbox, SearchCriteria.modSeq(200)),
            yield* ImapClient.searchWithModSeq(inbox, SearchCriteria.modSeq(300))
          ]
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.deepStrictEqual(exit.value, [
          { numbers: [6, 9], modseq: 917162500n },
          { numbers: [2, 3], modseq: 917162507n },
          { numbers: [], modseq: undefined }
        ])
      }
    }))

  it.live("without CONDSTORE: every CONDSTORE option is MissingCapability and nothing is written", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: A5 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const reasons = [
            yield* refusal(Stream.runDrain(ImapClient.fetch(inbox, SequenceSet.all, { flags: true }, { changedSince: 1 }))),
            yield* refusal(Stream.runDrain(ImapClient.fetch(inbox, SequenceSet.all, { modseq: true }))),
            yield* refusal(ImapClient.store(inbox, SequenceSet.all, "add", ["\\Seen"], { unchangedSince: 1 })),
            yield* refusal(ImapClient.search(inbox, SearchCriteria.and(SearchCriteria.seen, SearchCriteria.modSeq(5)))),
            yield* refusal(ImapClient.examine(imap, "INBOX", { condstore: true })),
            yield* refusal(ImapClient.select(imap, "INBOX", { qresync: { uidValidity: 1, modSeq: 1 } }))
          ]
          // The failed EXAMINE never deselected INBOX: nothing was sent.
          yield* ImapClient.noop(inbox)
          return reasons
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.deepStrictEqual(exit.value.map((r) => [r._tag, "capability" in r ? r.capability : undefined]), [
          ["MissingCapability", "CONDSTORE"],
          ["MissingCapability", "CONDSTORE"],
          ["MissingCapability", "CONDSTORE"],
          ["MissingCapability", "CONDSTORE"],
          ["MissingCapability", "CONDSTORE"],
          ["MissingCapability", "QRESYNC"]
        ])
      }
    }))
})

describe("QRESYNC (RFC 7162 §3.2)", () => {
  it.live("SELECT (QRESYNC ...): VANISHED (EARLIER) and changed messages are data of the result; the view has them", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 ENABLE QRESYNC
          S: * ENABLED QRESYNC
          S+ A4 OK Enabled.
          C: A5 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))
          S: * 314 EXISTS
          S+ * OK [UIDVALIDITY 67890007] UIDVALIDITY
          S+ * OK [HIGHESTMODSEQ 20050715194045030] Highest
          S+ * VANISHED (EARLIER) 41,43:116,118,120:211,214:540
          S+ * 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (20050715194045001))
          S+ A5 OK [READ-WRITE] mailbox selected
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const hub = yield* ImapClient.events(imap)
          yield* ImapClient.enable(imap, ["QRESYNC"])
          const inbox = yield* ImapClient.select(imap, "INBOX", {
            qresync: {
              uidValidity: 67890007,
              modSeq: 20050715194045000n,
              knownUids: SequenceSet.make([{ start: 41, end: 41 }, { start: 43, end: 211 }, { start: 214, end: 541 }])
            }
          })
          const view = yield* ImapClient.mailbox(inbox)
          yield* ImapClient.logout(imap)
          return { inbox, view, events: yield* Stream.runCollect(hub) }
        })
      )
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      const { events, inbox, view } = exit.value
      assert.deepStrictEqual(inbox.resync, {
        vanished: ["41,43:116,118,120:211,214:540"],
        changed: [{ seq: 49, uid: 117, flags: ["\\Seen", "\\Answered"], modseq: 20050715194045001n }]
      })
      assert.strictEqual(inbox.status.exists, 314)
      assert.strictEqual(inbox.status.highestModSeq, 20050715194045030n)
      assert.deepStrictEqual(view.messages, [{ seq: 49, uid: 117, flags: ["\\Seen", "\\Answered"] }])
      // SELECT's data describes the mailbox: no events.
      assert.deepStrictEqual(events, [])
    }))

  it.live("UID FETCH (CHANGEDSINCE m VANISHED): the changed messages, and VANISHED (EARLIER) as events", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 ENABLE QRESYNC
          S: * ENABLED QRESYNC
          S+ A4 OK Enabled.
          C: A5 SELECT INBOX
          S: * 3 EXISTS
          S+ A5 OK [READ-WRITE] selected
          C: A6 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 12345 VANISHED)
          S: * VANISHED (EARLIER) 4:5,9
          S+ * 2 FETCH (UID 6 FLAGS (\\Seen) MODSEQ (12350))
          S+ A6 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const hub = yield* ImapClient.events(imap)
          yield* ImapClient.enable(imap, ["QRESYNC"])
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const changed = yield* Stream.runCollect(
            ImapClient.fetch(inbox, SequenceSet.all, { flags: true }, { uid: true, changedSince: 12345, vanished: true })
          )
          yield* ImapClient.logout(imap)
          return { changed, events: yield* Stream.runCollect(hub) }
        })
      )
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      assert.deepStrictEqual(exit.value.changed.map((m) => [m.uid, m.flags]), [[6, ["\\Seen"]]])
      assert.deepStrictEqual(exit.value.events, [{ _tag: "Vanished", mailbox: "INBOX", uids: "4:5,9", earlier: true }])
    }))

  it.live("FETCH VANISHED before ENABLE QRESYNC: InvalidState, nothing written", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 SELECT INBOX
          S: * 3 EXISTS
          S+ A4 OK [READ-WRITE] selected
          C: A5 NOOP
          S: A5 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const reason = yield* refusal(Stream.runDrain(ImapClient.fetch(inbox, SequenceSet.all, { flags: true }, {
            uid: true,
            changedSince: 1,
            vanished: true
          })))
          yield* ImapClient.noop(inbox)
          return reason
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(exit.value, { _tag: "InvalidState", command: "FETCH VANISHED" })
    }))

  it.live("QRESYNC before ENABLE: InvalidState, nothing written", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn(CONDSTORE)}
          C: A4 NOOP
          S: A4 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const reason = yield* refusal(ImapClient.select(imap, "INBOX", { qresync: { uidValidity: 1, modSeq: 1 } }))
          yield* ImapClient.noop(imap)
          return reason
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(exit.value, { _tag: "InvalidState", command: "SELECT (QRESYNC)" })
    }))
})

describe("ID (RFC 2971), NAMESPACE (RFC 2342), CREATE-SPECIAL-USE (RFC 6154)", () => {
  it.live("ID on a Secure and on an Authenticated handle: the server's fields, NIL as null", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4rev1 SASL-IR ID AUTH=PLAIN
          S+ A2 OK done
          C: A3 ID ("name" "starttls" "version" "0.1.0")
          S: * ID ("name" "Dovecot" "support-url" NIL)
          S+ A3 OK ID completed.
          C: A4 AUTHENTICATE PLAIN ${H.plain}
          S: A4 OK [CAPABILITY IMAP4rev1 ID] Logged in
          C: A5 ID NIL
          S: * ID NIL
          S+ A5 OK ID completed.
        `,
        Effect.gen(function*() {
          const secure = yield* H.upgraded
          const server = yield* ImapClient.id(secure, { name: "starttls", version: "0.1.0" })
          const imap = yield* ImapClient.authenticate(secure, H.credentials)
          return [server, yield* ImapClient.id(imap, null)]
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.deepStrictEqual({ ...exit.value[0] }, { name: "Dovecot", "support-url": null })
        assert.isNull(exit.value[1])
      }
    }))

  it.live("ID on a connection authenticated in plaintext (dangerous policy): PolicyViolation, nothing written", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] ready
          C: A1 AUTHENTICATE PLAIN ${H.plain}
          S: A1 OK [CAPABILITY IMAP4rev1 ID] done
          C: A2 NOOP
          S: A2 OK done
        `,
        Effect.gen(function*() {
          const plain = yield* ImapClient.connect(H.options)
          const imap = yield* ImapClient.authenticate(plain, H.credentials)
          const reason = yield* refusal(ImapClient.id(imap, { name: "starttls" }))
          yield* ImapClient.noop(imap)
          return reason
        }).pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.strictEqual(exit.value._tag, "PolicyViolation")
      assert.notInclude(Buffer.concat(rec.chunks.map((c) => c.bytes)).toString(), "ID")
    }))

  it.live("NAMESPACE: typed personal / other / shared, prefixes decoded; without it MissingCapability", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev1 NAMESPACE LITERAL+")}
          C: A4 NAMESPACE
          S: * NAMESPACE (("" "/")) (("Other Users/" "/" "X-EXT" ("a" "b"))) (("&ANY-ffentlich/" "/"))
          S+ A4 OK done
        `,
        Effect.flatMap(X.login, ImapClient.namespace)
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.deepStrictEqual(exit.value, {
          personal: [{ prefix: "", wirePrefix: "", delimiter: "/", extensions: [] }],
          other: [{ prefix: "Other Users/", wirePrefix: "Other Users/", delimiter: "/", extensions: [{ name: "X-EXT", values: ["a", "b"] }] }],
          shared: [{ prefix: "Öffentlich/", wirePrefix: "&ANY-ffentlich/", delimiter: "/", extensions: [] }]
        })
      }
      const { exit: missing } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 NOOP
          S: A4 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const reason = yield* refusal(ImapClient.namespace(imap))
          yield* ImapClient.noop(imap)
          return reason
        })
      )
      H.assertSuccess(missing)
      if (Exit.isSuccess(missing)) assert.deepInclude(missing.value, { _tag: "MissingCapability", capability: "NAMESPACE" })
    }))

  it.live("NAMESPACE is part of IMAP4rev2", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev2")}
          C: A4 NAMESPACE
          S: * NAMESPACE (("" "/")) NIL NIL
          S+ A4 OK done
        `,
        Effect.flatMap(X.login, ImapClient.namespace)
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepStrictEqual([exit.value.other, exit.value.shared], [[], []])
    }))

  it.live("CREATE (USE (\\Sent)) with CREATE-SPECIAL-USE; NO [USEATTR] kept; without it MissingCapability", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.loggedIn("IMAP4rev1 CREATE-SPECIAL-USE SPECIAL-USE LITERAL+")}
          C: A4 CREATE Sent (USE (\\Sent))
          S: A4 OK done
          C: A5 CREATE Both (USE (\\Archive \\Trash))
          S: A5 NO [USEATTR] one use per mailbox
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          yield* ImapClient.create(imap, "Sent", { specialUse: "\\Sent" })
          return yield* refusal(ImapClient.create(imap, "Both", { specialUse: ["\\Archive", "\\Trash"] }))
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(exit.value, { _tag: "No", code: "USEATTR" })
      const { exit: missing } = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 CREATE Sent
          S: A4 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* X.login
          const reason = yield* refusal(ImapClient.create(imap, "Sent", { specialUse: "\\Sent" }))
          yield* ImapClient.create(imap, "Sent")
          return reason
        })
      )
      H.assertSuccess(missing)
      if (Exit.isSuccess(missing)) {
        assert.deepInclude(missing.value, { _tag: "MissingCapability", capability: "CREATE-SPECIAL-USE" })
      }
    }))
})

describe("MOVE (RFC 6851) and its opt-in fallback", () => {
  it.live("without MOVE, fallback with UIDPLUS: UID SEARCH, UID COPY, UID STORE +FLAGS.SILENT (\\Deleted), UID EXPUNGE of exactly those UIDs", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected("IMAP4rev1 UIDPLUS LITERAL+")}
          C: A5 UID SEARCH 2:3
          S: * SEARCH 12 13
          S+ A5 OK done
          C: A6 UID COPY 12:13 Trash
          S: A6 OK [COPYUID 9 12:13 1:2] done
          C: A7 UID STORE 12:13 +FLAGS.SILENT (\\Deleted)
          S: A7 OK done
          C: A8 UID EXPUNGE 12:13
          S: * 3 EXPUNGE
          S+ * 2 EXPUNGE
          S+ A8 OK done
          C: A9 UID SEARCH UID 40:*
          S: * SEARCH
          S+ A9 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const missing = yield* refusal(ImapClient.move(inbox, SequenceSet.range(2, 3), "Trash"))
          const moved = yield* ImapClient.move(inbox, SequenceSet.range(2, 3), "Trash", { fallback: true })
          const exists = (yield* ImapClient.mailbox(inbox)).status.exists
          // Nothing to move: no COPY at all.
          const none = yield* ImapClient.move(inbox, SequenceSet.range(40, "*"), "Trash", { uid: true, fallback: true })
          return { missing, moved, exists, none }
        })
      )
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      assert.deepInclude(exit.value.missing, { _tag: "MissingCapability", capability: "MOVE" })
      assert.deepStrictEqual(exit.value.moved, { uidValidity: 9, sourceUids: "12:13", destinationUids: "1:2" })
      assert.strictEqual(exit.value.exists, 1)
      assert.deepStrictEqual(exit.value.none, { uidValidity: undefined, sourceUids: undefined, destinationUids: undefined })
    }))

  it.live("without MOVE and UIDPLUS the fallback needs expungeAllDeleted (plain EXPUNGE); with MOVE it is MOVE", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected("IMAP4rev1 LITERAL+")}
          C: A5 UID SEARCH UID 5:6
          S: * SEARCH 5
          S+ A5 OK done
          C: A6 UID COPY 5 Trash
          S: A6 OK done
          C: A7 UID STORE 5 +FLAGS.SILENT (\\Deleted)
          S: A7 OK done
          C: A8 EXPUNGE
          S: * 1 EXPUNGE
          S+ A8 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const set = SequenceSet.range(5, 6)
          const refused = yield* refusal(ImapClient.move(inbox, set, "Trash", { uid: true, fallback: true }))
          yield* ImapClient.move(inbox, set, "Trash", { uid: true, fallback: true, expungeAllDeleted: true })
          return refused
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(exit.value, { _tag: "MissingCapability", capability: "UIDPLUS" })
      const { exit: native } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 UID MOVE 5 Trash
          S: A5 OK [COPYUID 9 5 3] done
        `,
        Effect.flatMap(X.selectInbox, (inbox) =>
          ImapClient.move(inbox, SequenceSet.single(5), "Trash", { uid: true, fallback: true }))
      )
      H.assertSuccess(native)
    }))
})

describe("leftovers of the IMAP client", () => {
  it.live("events before the first subscription reach it (bounded, newest kept); a later subscriber starts fresh", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: * 4 EXISTS
          S+ A5 OK done
          C: A6 NOOP
          S: * 1 FETCH (FLAGS (\\Seen))
          S+ A6 OK done
          ${X.LOGOUT}
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          yield* ImapClient.noop(inbox)
          const first = yield* ImapClient.events(inbox)
          yield* ImapClient.noop(inbox)
          const second = yield* ImapClient.events(inbox)
          yield* ImapClient.logout(inbox)
          return [yield* Stream.runCollect(first), yield* Stream.runCollect(second)] as const
        })
      )
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      const [first, second] = exit.value
      const expected: Array<ImapMailbox.ImapEvent> = [
        { _tag: "Exists", mailbox: "INBOX", count: 4 },
        { _tag: "FlagsChanged", mailbox: "INBOX", seq: 1, uid: undefined, flags: ["\\Seen"] }
      ]
      assert.deepStrictEqual(first, expected)
      assert.deepStrictEqual(second, [])
    }))

  it.live("a backlog larger than the bound keeps the newest 4096 events", () =>
    Effect.gen(function*() {
      const burst = Array.from({ length: 5000 }, (_, i) => `S+ * ${i + 4} EXISTS`).join("\n")
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: * OK burst
          ${burst}
          S+ A5 OK done
          ${X.LOGOUT}
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          yield* ImapClient.noop(inbox)
          const events = yield* ImapClient.events(inbox)
          yield* ImapClient.logout(inbox)
          return yield* Stream.runCollect(events)
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        // The hub's sliding buffer (4096) also holds the end marker published at LOGOUT.
        assert.strictEqual(exit.value.length, 4095)
        assert.deepStrictEqual(exit.value[0], { _tag: "Exists", mailbox: "INBOX", count: 5003 - 4094 })
        assert.deepStrictEqual(exit.value.at(-1), { _tag: "Exists", mailbox: "INBOX", count: 5003 })
      }
    }))

  it.live("download of a missing UID or of an expunged message (NIL): NotFound; an empty message: no bytes", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${H.SELECTED}
          C: A5 UID FETCH 99 (UID BODY.PEEK[])
          S: A5 OK Fetch completed.
          C: A6 FETCH 1 (BODY.PEEK[])
          S: * 1 FETCH (BODY[] NIL)
          S+ A6 OK done
          C: A7 FETCH 2 (BODY.PEEK[])
          S: * 2 FETCH (BODY[] "")
          S+ A7 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const byUid = yield* refusal(Stream.runCollect(ImapClient.download(inbox, 99, { uid: true })))
          const nil = yield* refusal(Stream.runCollect(ImapClient.download(inbox, 1)))
          const empty = yield* Stream.runCollect(ImapClient.download(inbox, 2))
          return { byUid, nil, empty }
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.deepInclude(exit.value.byUid, { _tag: "NotFound", command: "UID FETCH", what: "message UID 99" })
        assert.deepInclude(exit.value.nil, { _tag: "NotFound", command: "FETCH" })
        assert.deepStrictEqual(exit.value.empty, [])
      }
    }))
})

describe("against the in-memory ImapServer", () => {
  const message = (subject: string) => `From: a@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`

  it.live("ENABLE, CONDSTORE and QRESYNC: changes by another session come back as VANISHED (EARLIER) and changed messages", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      for (const subject of ["one", "two", "three"]) server.append("alice", "INBOX", message(subject))
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        assert.sameMembers([...yield* ImapClient.enable(imap, ["CONDSTORE", "QRESYNC"])], ["CONDSTORE", "QRESYNC"])
        const first = yield* ImapClient.select(imap, "INBOX", { condstore: true })
        const known = { uidValidity: first.status.uidValidity!, modSeq: first.status.highestModSeq! }
        assert.isDefined(known.modSeq)
        assert.deepStrictEqual(yield* Stream.runCollect(ImapClient.fetch(first, SequenceSet.all, { uid: true }, {
          uid: true,
          changedSince: known.modSeq
        })), [])
        // Another session: a flag change on UID 2, UID 1 expunged.
        server.setFlags("alice", "INBOX", 2, ["\\Flagged"])
        server.expunge("alice", "INBOX", [1])
        yield* ImapClient.unselect(first)
        const again = yield* ImapClient.select(imap, "INBOX", {
          qresync: { ...known, knownUids: SequenceSet.range(1, 3) }
        })
        assert.deepStrictEqual(again.resync?.vanished, ["1"])
        assert.deepStrictEqual(again.resync?.changed.map((m) => [m.uid, m.flags?.filter((f) => f !== "\\Recent")]), [
          [2, ["\\Flagged"]]
        ])
        const changed = yield* Stream.runCollect(
          ImapClient.fetch(again, SequenceSet.all, { flags: true }, { uid: true, changedSince: known.modSeq })
        )
        assert.deepStrictEqual(changed.map((m) => m.uid), [2])
        assert.isAbove(Number(changed[0]!.modseq), Number(known.modSeq))
        // Conditional STORE: UID 2 changed after `known`, UID 3 did not.
        const conditional = yield* ImapClient.store(again, SequenceSet.range(2, 3), "add", ["\\Seen"], {
          uid: true,
          unchangedSince: known.modSeq
        })
        assert.strictEqual(SequenceSet.format(conditional.modified!), "2")
        assert.deepStrictEqual(conditional.updated.map((u) => u.uid), [3])
        assert.deepStrictEqual(
          yield* ImapClient.uidSearch(again, SearchCriteria.modSeq(BigInt(known.modSeq) + 1n)),
          [2, 3]
        )
        const status = yield* ImapClient.status(imap, "INBOX", ["HIGHESTMODSEQ"])
        assert.isAbove(Number(status.highestModSeq), Number(known.modSeq))
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(server.messages("alice", "INBOX").map((m) => m.flags.includes("\\Seen")), [false, true])
    }))

  it.live("ID, NAMESPACE, LIST with special use, CREATE with special use", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({
        mailboxes: ImapServer.standardMailboxes,
        capabilities: { authenticated: X.capabilities(["CREATE-SPECIAL-USE"]) }
      })
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        assert.deepStrictEqual({ ...yield* ImapClient.id(imap, { name: "starttls" }) }, { name: "Dovecot" })
        const namespaces = yield* ImapClient.namespace(imap)
        assert.strictEqual(namespaces.personal.length, 1)
        yield* ImapClient.create(imap, "Old mail", { specialUse: "\\Archive" })
        const refused = yield* refusal(ImapClient.create(imap, "Two", { specialUse: ["\\Archive", "\\Junk"] }))
        assert.deepInclude(refused, { _tag: "No", code: "USEATTR" })
        const list = yield* ImapClient.list(imap)
        assert.deepStrictEqual(
          list.filter((m) => m.specialUse !== undefined).map((m) => [m.name, m.specialUse]).sort(),
          [["Archive", "\\Archive"], ["Drafts", "\\Drafts"], ["Junk", "\\Junk"], ["Old mail", "\\Archive"], ["Sent", "\\Sent"], [
            "Trash",
            "\\Trash"
          ]]
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.strictEqual(server.mailbox("alice", "Old mail")?.specialUse, "\\Archive")
      assert.isUndefined(server.mailbox("alice", "Two"))
    }))

  it.live("MOVE fallback on a server without MOVE: only the moved messages leave, another \\Deleted one stays", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({
        mailboxes: ImapServer.standardMailboxes,
        capabilities: { authenticated: X.capabilities([], ["MOVE"]) }
      })
      for (const subject of ["one", "two", "three"]) server.append("alice", "INBOX", message(subject))
      server.setFlags("alice", "INBOX", 3, ["\\Deleted"])
      const moved = yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        const missing = yield* refusal(ImapClient.move(inbox, SequenceSet.single(1), "Archive"))
        assert.deepInclude(missing, { _tag: "MissingCapability", capability: "MOVE" })
        const result = yield* ImapClient.move(inbox, SequenceSet.range(1, 2), "Archive", { fallback: true })
        assert.strictEqual((yield* ImapClient.mailbox(inbox)).status.exists, 1)
        return result
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual([moved.sourceUids, moved.destinationUids], ["1:2", "1:2"])
      assert.deepStrictEqual(server.messages("alice", "INBOX").map((m) => m.uid), [3])
      assert.deepStrictEqual(server.messages("alice", "Archive").map((m) => text(m.bytes).includes("Subject: one")), [true, false])
    }))

  it.live("UTF8=ACCEPT: a UTF-8 mailbox and a UTF-8 header survive the round trip; UIDPLUS results", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ mailboxes: ImapServer.standardMailboxes })
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        yield* ImapClient.enable(imap, ["UTF8=ACCEPT"])
        yield* ImapClient.create(imap, "Entwürfe")
        const appended = yield* ImapClient.append(imap, "Entwürfe", bytes("Subject: Grüße\r\n\r\nhallo\r\n"))
        assert.deepStrictEqual(appended.uid, 1)
        assert.include((yield* ImapClient.list(imap)).map((m) => m.name), "Entwürfe")
        const box = yield* ImapClient.select(imap, "Entwürfe")
        const [fetched] = yield* Stream.runCollect(ImapClient.fetch(box, SequenceSet.all, { envelope: true, uid: true }))
        assert.strictEqual(fetched!.envelope?.subject, "Grüße")
        const copied = yield* ImapClient.copy(box, SequenceSet.single(1), "Drafts", { uid: true })
        assert.deepStrictEqual([copied.sourceUids, copied.destinationUids], ["1", "1"])
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.strictEqual(server.messages("alice", "Entwürfe").length, 1)
      assert.include(text(server.messages("alice", "Drafts")[0]!.bytes), "Grüße")
    }))
})
