/**
 * Command pipelining (RFC 9051 §5.5, `internal/client/pipeline.ts`): transcripts played by the
 * testkit's ScriptedServer, with a spy on the client's transport that logs every write and every
 * chunk read (plaintext, in the order the client saw them), so that "one write for N commands" and
 * "written only after that reply arrived" are checked exactly; then a property against the
 * stateful ImapServer: random mixes of concurrent operations give the results of running them one
 * after the other.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import { Transport, type TransportConnection } from "@starttls/core/Transport"
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as H from "./ImapHarness.ts"

interface Logged {
  readonly dir: "C" | "S"
  readonly text: string
}

/** A transport over the outer one that logs every write ("C") and every chunk read ("S"). */
const spy = () => {
  const log: Array<Logged> = []
  const text = (chunks: ReadonlyArray<Uint8Array>) => Buffer.concat(chunks).toString("utf8")
  const layer = Layer.effect(
    Transport,
    Effect.map(Effect.service(Transport), (inner) => ({
      connect: (options: Parameters<typeof inner.connect>[0]) =>
        Effect.map(inner.connect(options), (c): TransportConnection => ({
          ...c,
          pull: Effect.tap(c.pull, (chunks) => Effect.sync(() => log.push({ dir: "S", text: text(chunks) }))),
          write: (chunks) => {
            log.push({ dir: "C", text: text(chunks) })
            return c.write(chunks)
          }
        }))
    }))
  )
  return { log, layer }
}

/** Plays `source`; the program's transport is spied on. */
const play = <A, E>(source: string, program: Effect.Effect<A, E, Transport | Scope.Scope>, serverOptions?: { readonly maxLineLength?: number }) => {
  const spied = spy()
  return Effect.map(
    H.play(source, program.pipe(Effect.provide(spied.layer)), serverOptions),
    (result) => ({ ...result, log: spied.log })
  )
}

/** The writes after authentication (the first one that contains `from`, and the rest). */
const writesFrom = (log: ReadonlyArray<Logged>, from: string): Array<string> => {
  const writes = log.filter((e) => e.dir === "C").map((e) => e.text)
  return writes.slice(writes.findIndex((w) => w.includes(from)))
}

/** Index in the log of the first write containing `command`, and of the first read containing `reply`. */
const at = (log: ReadonlyArray<Logged>, dir: "C" | "S", needle: string): number => {
  const i = log.findIndex((e) => e.dir === dir && e.text.includes(needle))
  assert.isAtLeast(i, 0, `no ${dir} chunk with ${needle}`)
  return i
}

/** Asserts that `command` was written only after `reply` had been read. */
const after = (log: ReadonlyArray<Logged>, command: string, reply: string) =>
  assert.isAbove(at(log, "C", command), at(log, "S", reply), `${command} was written before ${reply} arrived`)

const login = ImapClient.session({ ...H.options, credentials: H.credentials })
const ITEMS = "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"
const all = { concurrency: "unbounded" } as const

const imapReason = <A, E>(exit: Exit.Exit<A, E>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const reason = H.reason(exit) as ImapError.ImapErrorReason
  return reason._tag
}

describe("one flight", () => {
  it.live("N STATUS: one write, the answers matched by tag and mailbox", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.LOGGED_IN}
          C: A4 STATUS INBOX ${ITEMS}
          C: A5 STATUS Archive ${ITEMS}
          C: A6 STATUS Sent ${ITEMS}
          S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1 UNSEEN 1)
          S+ A4 OK done
          S+ * STATUS Archive (MESSAGES 7 UIDNEXT 8 UIDVALIDITY 2 UNSEEN 0)
          S+ A5 OK done
          S+ * STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 3 UNSEEN 0)
          S+ A6 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const results = yield* Effect.all(["inbox", "Archive", "Sent"].map((name) => ImapClient.status(imap, name)), all)
          assert.deepStrictEqual(results.map((r) => [r.name, r.messages, r.uidValidity]), [
            ["INBOX", 3, 1],
            ["Archive", 7, 2],
            ["Sent", 0, 3]
          ])
        })
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(writesFrom(log, "A4 STATUS"), [
        `A4 STATUS INBOX ${ITEMS}\r\nA5 STATUS Archive ${ITEMS}\r\nA6 STATUS Sent ${ITEMS}\r\n`
      ])
    }))

  it.live("tagged replies out of order, untagged data interleaved: each goes to its claimer, the rest to the view", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.SELECTED}
          C: A5 LIST "" * RETURN (SPECIAL-USE)
          C: A6 STATUS Archive ${ITEMS}
          C: A7 STATUS Sent ${ITEMS}
          C: A8 NOOP
          S: * STATUS Sent (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 9 UNSEEN 0)
          S+ A7 OK done
          S+ * LIST (\\HasNoChildren) "/" INBOX
          S+ * 4 EXISTS
          S+ * STATUS Archive (MESSAGES 5 UIDNEXT 6 UIDVALIDITY 8 UNSEEN 1)
          S+ * LIST (\\HasNoChildren \\Archive) "/" Archive
          S+ A8 OK done
          S+ A5 OK done
          S+ A6 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const [list, archive, sent] = yield* Effect.all([
            ImapClient.list(imap),
            ImapClient.status(imap, "Archive"),
            ImapClient.status(imap, "Sent"),
            ImapClient.noop(inbox)
          ], all)
          assert.deepStrictEqual(list.map((m) => [m.name, m.specialUse]), [["INBOX", undefined], ["Archive", "\\Archive"]])
          assert.deepStrictEqual([archive.messages, archive.uidValidity, sent.messages, sent.uidValidity], [5, 8, 2, 9])
          assert.strictEqual((yield* ImapClient.mailbox(inbox)).status.exists, 4)
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(writesFrom(log, "A5 LIST").length, 1)
    }))

  it.live("a NO for one of several fails that one only", () =>
    Effect.gen(function*() {
      const { exit } = yield* play(
        String.raw`${H.LOGGED_IN}
          C: A4 STATUS INBOX ${ITEMS}
          C: A5 STATUS Nope ${ITEMS}
          C: A6 STATUS Sent ${ITEMS}
          S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1 UNSEEN 1)
          S+ A4 OK done
          S+ A5 NO [NONEXISTENT] Mailbox doesn't exist: Nope
          S+ * STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 3 UNSEEN 0)
          S+ A6 OK done
          C: A7 NOOP
          S: A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const exits = yield* Effect.all(["INBOX", "Nope", "Sent"].map((name) => Effect.exit(ImapClient.status(imap, name))), all)
          assert.deepStrictEqual(exits.map(imapReason), ["success", "No", "success"])
          const no = H.reason(exits[1]!) as ImapError.ImapErrorReason
          assert.deepStrictEqual(no._tag === "No" ? [no.command, no.code] : [], ["STATUS", "NONEXISTENT"])
          yield* ImapClient.noop(imap)
        })
      )
      H.assertSuccess(exit)
    }))
})

describe("ordering rules", () => {
  it.live("a barrier (MOVE) goes alone: after the flight before it, before the command after it", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.SELECTED}
          C: A5 STORE 1 +FLAGS (\\Seen)
          S: * 1 FETCH (FLAGS (\\Seen))
          S+ A5 OK done
          C: A6 UID MOVE 3 Archive
          S: * OK [COPYUID 1700000001 3 9] moved
          S+ * 3 EXPUNGE
          S+ A6 OK done
          C: A7 UID STORE 2 +FLAGS (\\Flagged)
          S: * 2 FETCH (UID 2 FLAGS (\\Flagged))
          S+ A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const [stored, moved, flagged] = yield* Effect.all([
            ImapClient.store(inbox, SequenceSet.single(1), "add", ["\\Seen"]),
            ImapClient.move(inbox, SequenceSet.single(3), "Archive", { uid: true }),
            ImapClient.store(inbox, SequenceSet.single(2), "add", ["\\Flagged"], { uid: true })
          ], all)
          assert.deepStrictEqual(stored.map((r) => r.flags), [["\\Seen"]])
          assert.deepStrictEqual(moved, { uidValidity: 1700000001, sourceUids: "3", destinationUids: "9" })
          assert.deepStrictEqual(flagged, [{ seq: 2, uid: 2, flags: ["\\Flagged"] }])
          assert.strictEqual((yield* ImapClient.mailbox(inbox)).status.exists, 2)
        })
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(writesFrom(log, "A5 STORE").length, 3)
      after(log, "A6 UID MOVE", "A5 OK")
      after(log, "A7 UID STORE", "A6 OK")
    }))

  it.live("sequence numbers wait for a command that may expunge; FETCH, STORE and SEARCH go together", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.SELECTED}
          C: A5 NOOP
          S: * 4 EXISTS
          S+ A5 OK done
          C: A6 STORE 1 +FLAGS (\\Flagged)
          C: A7 SEARCH ALL
          C: A8 FETCH 2 (FLAGS)
          S: * 1 FETCH (FLAGS (\\Flagged))
          S+ * SEARCH 1 2 3 4
          S+ * 2 FETCH (FLAGS (\\Seen))
          S+ A6 OK done
          S+ A7 OK done
          S+ A8 OK done
          C: A9 UID SEARCH ALL
          S: * SEARCH 1 2 3 4
          S+ A9 OK done
          C: A10 FETCH 1 (FLAGS)
          S: * 1 FETCH (FLAGS (\\Flagged))
          S+ A10 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const [, stored, found, fetched] = yield* Effect.all([
            ImapClient.noop(inbox),
            ImapClient.store(inbox, SequenceSet.single(1), "add", ["\\Flagged"]),
            ImapClient.search(inbox, SearchCriteria.all),
            ImapClient.fetchAll(inbox, SequenceSet.single(2), { flags: true })
          ], all)
          assert.deepStrictEqual(stored.map((r) => r.flags), [["\\Flagged"]])
          assert.deepStrictEqual(found, [1, 2, 3, 4])
          assert.deepStrictEqual(fetched.map((m) => [m.seq, m.flags]), [[2, ["\\Seen"]]])
          // UID SEARCH may expunge (RFC 9051 §5.5 note): the sequence-number FETCH waits for it.
          const [uids, first] = yield* Effect.all([
            ImapClient.uidSearch(inbox, SearchCriteria.all),
            ImapClient.fetchAll(inbox, SequenceSet.single(1), { flags: true })
          ], all)
          assert.deepStrictEqual([uids, first.map((m) => m.flags)], [[1, 2, 3, 4], [["\\Flagged"]]])
        })
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(writesFrom(log, "A5 NOOP"), [
        "A5 NOOP\r\n",
        "A6 STORE 1 +FLAGS (\\Flagged)\r\nA7 SEARCH ALL\r\nA8 FETCH 2 (FLAGS)\r\n",
        "A9 UID SEARCH ALL\r\n",
        "A10 FETCH 1 (FLAGS)\r\n"
      ])
      after(log, "A6 STORE", "A5 OK")
      after(log, "A10 FETCH", "A9 OK")
    }))

  it.live("FETCH sets: disjoint UID FETCHes fly together, an overlapping one waits (and holds back the queue); .SILENT claims nothing", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.SELECTED}
          C: A5 UID FETCH 1:2 (UID FLAGS)
          C: A6 UID FETCH 3 (UID FLAGS)
          S: * 3 FETCH (UID 3 FLAGS ())
          S+ * 1 FETCH (UID 1 FLAGS (\\Seen))
          S+ * 2 FETCH (UID 2 FLAGS ())
          S+ A6 OK done
          S+ A5 OK done
          C: A7 UID FETCH 2:3 (UID FLAGS)
          C: A8 UID STORE 1 +FLAGS.SILENT (\\Deleted)
          S: * 2 FETCH (UID 2 FLAGS ())
          S+ * 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))
          S+ * 3 FETCH (UID 3 FLAGS ())
          S+ A7 OK done
          S+ A8 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const events = yield* ImapClient.events(inbox)
          const uid = { uid: true } as const
          const [a, b, c, silent] = yield* Effect.all([
            ImapClient.fetchAll(inbox, SequenceSet.range(1, 2), { flags: true }, uid),
            ImapClient.fetchAll(inbox, SequenceSet.single(3), { flags: true }, uid),
            ImapClient.fetchAll(inbox, SequenceSet.range(2, 3), { flags: true }, uid),
            ImapClient.store(inbox, SequenceSet.single(1), "add", ["\\Deleted"], { uid: true, silent: true })
          ], all)
          assert.deepStrictEqual([a, b, c].map((ms) => ms.map((m) => m.uid)), [[1, 2], [3], [2, 3]])
          assert.deepStrictEqual(silent, [])
          assert.deepStrictEqual((yield* ImapClient.mailbox(inbox)).messages[0]?.flags, ["\\Seen", "\\Deleted"])
          yield* ImapClient.logout(imap)
          // Not claimed by the .SILENT STORE: an unsolicited change, so an event.
          const seen = yield* Stream.runCollect(events)
          assert.deepStrictEqual(seen, [
            { _tag: "FlagsChanged", mailbox: "INBOX", seq: 1, uid: 1, flags: ["\\Seen", "\\Deleted"] }
          ])
        })
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(writesFrom(log, "A5 UID FETCH").slice(0, 2), [
        "A5 UID FETCH 1:2 (UID FLAGS)\r\nA6 UID FETCH 3 (UID FLAGS)\r\n",
        "A7 UID FETCH 2:3 (UID FLAGS)\r\nA8 UID STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"
      ])
      after(log, "A7 UID FETCH", "A5 OK")
    }))

  it.live("an operation that runs alone (SELECT) waits for the flight, and goes before commands queued after it", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.LOGGED_IN}
          C: A4 STATUS INBOX ${ITEMS}
          C: A5 STATUS Archive ${ITEMS}
          -- delay 60
          S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1 UNSEEN 1)
          S+ A4 OK done
          S+ * STATUS Archive (MESSAGES 7 UIDNEXT 8 UIDVALIDITY 2 UNSEEN 0)
          S+ A5 OK done
          C: A6 SELECT INBOX
          S: * 3 EXISTS
          S+ A6 OK [READ-WRITE] done
          C: A7 STATUS Sent ${ITEMS}
          S: * STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 3 UNSEEN 0)
          S+ A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const first = yield* Effect.forkChild(
            Effect.all([ImapClient.status(imap, "INBOX"), ImapClient.status(imap, "Archive")], all)
          )
          yield* Effect.sleep("20 millis")
          const selecting = yield* Effect.forkChild(ImapClient.select(imap, "INBOX"))
          yield* Effect.sleep("5 millis")
          const sent = yield* ImapClient.status(imap, "Sent")
          assert.strictEqual(sent.uidValidity, 3)
          assert.strictEqual((yield* Fiber.join(selecting)).status.exists, 3)
          assert.deepStrictEqual((yield* Fiber.join(first)).map((s) => s.messages), [3, 7])
        })
      )
      H.assertSuccess(exit)
      after(log, "A6 SELECT", "A5 OK")
      after(log, "A7 STATUS", "A6 OK")
    }))

  it.live("a synchronizing literal (no LITERAL+) goes alone, waiting for the \"+\"", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.UPGRADED}
          ${H.TLS_CAPS}
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: A3 OK [CAPABILITY IMAP4rev1] Logged in
          C: A4 SELECT INBOX
          S: * 3 EXISTS
          S+ A4 OK [READ-WRITE] done
          C: A5 NOOP
          S: A5 OK done
          C: A6 UID SEARCH CHARSET UTF-8 SUBJECT {7}
          S: + go ahead
          C: Grüße
          S: * SEARCH 3
          S+ A6 OK done
          C: A7 NOOP
          S: A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const [, found] = yield* Effect.all([
            ImapClient.noop(inbox),
            ImapClient.uidSearch(inbox, SearchCriteria.text("Subject", "Grüße")),
            ImapClient.noop(inbox)
          ], all)
          assert.deepStrictEqual(found, [3])
        }),
        { maxLineLength: 100 }
      )
      H.assertSuccess(exit)
      after(log, "A6 UID SEARCH", "A5 OK")
      after(log, "A7 NOOP", "A6 OK")
    }))
})

describe("handles and FETCH data", () => {
  it.live("a command queued for a selection that a SELECT ends before it is written fails StaleConnection, unwritten", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.SELECTED}
          C: A5 STATUS Archive ${ITEMS}
          -- delay 60
          S: * STATUS Archive (MESSAGES 7 UIDNEXT 8 UIDVALIDITY 2 UNSEEN 0)
          S+ A5 OK done
          C: A6 EXAMINE Archive
          S: * 7 EXISTS
          S+ A6 OK [READ-ONLY] done
          C: A7 NOOP
          S: A7 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const status = yield* Effect.forkChild(ImapClient.status(imap, "Archive"))
          yield* Effect.sleep("20 millis")
          const examining = yield* Effect.forkChild(ImapClient.examine(imap, "Archive"))
          yield* Effect.sleep("5 millis")
          const stale = yield* Effect.exit(ImapClient.store(inbox, SequenceSet.single(1), "add", ["\\Seen"]))
          assert.strictEqual(imapReason(stale), "StaleConnection")
          const archive = yield* Fiber.join(examining)
          assert.strictEqual((yield* Fiber.join(status)).messages, 7)
          yield* ImapClient.noop(archive)
        })
      )
      H.assertSuccess(exit)
      assert.isFalse(log.some((e) => e.dir === "C" && e.text.includes("STORE")))
    }))

  it.live("fetchAll: literals the parser streamed are assembled per message, two FETCHes in one flight", () =>
    Effect.gen(function*() {
      const one = "x".repeat(40)
      const three = "y".repeat(30)
      const { exit, log } = yield* play(
        String.raw`${H.SELECTED}
          C: A5 UID FETCH 1 (UID BODY.PEEK[])
          C: A6 UID FETCH 3 (UID BODY.PEEK[])
          S: * 3 FETCH (UID 3 BODY[] {30}\r\n${three})
          S+ * 1 FETCH (UID 1 BODY[] {40}\r\n${one} FLAGS (\\Seen))
          S+ A5 OK done
          S+ A6 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, streamLiteralsAbove: 8 })
          const inbox = yield* ImapClient.select(imap, "INBOX")
          const [first, third] = yield* Effect.all([
            ImapClient.fetchAll(inbox, SequenceSet.single(1), { source: true }, { uid: true }),
            ImapClient.fetchAll(inbox, SequenceSet.single(3), { source: true }, { uid: true })
          ], all)
          const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes))
          assert.deepStrictEqual(first.map((m) => [m.uid, text(m.source), m.flags]), [[1, one, ["\\Seen"]]])
          assert.deepStrictEqual(third.map((m) => [m.uid, text(m.source)]), [[3, three]])
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(writesFrom(log, "A5 UID FETCH").length, 1)
    }))

  it.live("literal data while no FETCH is in flight: ProtocolViolation, the connection is closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* play(
        String.raw`${H.LOGGED_IN}
          C: A4 STATUS INBOX ${ITEMS}
          S: * 1 FETCH (BODY[] {12}
          S+ hello world!)
          -- expect-close
        `,
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, streamLiteralsAbove: 4 })
          const exit = yield* Effect.exit(ImapClient.status(imap, "INBOX"))
          assert.strictEqual(Connection.runtimeState(imap), "Closed")
          return yield* exit
        })
      )
      assert.strictEqual(imapReason(exit), "ProtocolViolation")
    }))
})

describe("failures in flight", () => {
  const three = String.raw`${H.LOGGED_IN}
    C: A4 STATUS INBOX ${ITEMS}
    C: A5 STATUS Archive ${ITEMS}
    C: A6 STATUS Sent ${ITEMS}
    S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1 UNSEEN 1)
    S+ A4 OK done
  `
  const statuses = Effect.gen(function*() {
    const imap = yield* login
    const exits = yield* Effect.all(["INBOX", "Archive", "Sent"].map((name) => Effect.exit(ImapClient.status(imap, name))), all)
    // Nothing hangs afterwards: the connection is closed, the next operation fails at once.
    const later = yield* Effect.exit(ImapClient.noop(imap))
    return { exits, later, state: Connection.runtimeState(imap) }
  })

  it.live("a BYE fails every command in flight with Bye (text kept apart); the connection is closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* play(three + "S: * BYE Server shutting down\n-- close", statuses)
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      const { exits, later, state } = exit.value
      assert.deepStrictEqual(exits.map(imapReason), ["success", "Bye", "Bye"])
      const bye = H.reason(exits[2]!) as ImapError.ImapErrorReason
      assert.deepStrictEqual(bye._tag === "Bye" ? [bye.command, bye.untrustedText] : [], ["STATUS", "Server shutting down"])
      assert.strictEqual(state, "Closed")
      assert.strictEqual(imapReason(later), "StaleConnection")
    }))

  it.live("a dropped connection fails every command in flight with the transport's error", () =>
    Effect.gen(function*() {
      const { exit } = yield* play(three + "-- close", statuses)
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      const { exits, later, state } = exit.value
      assert.deepStrictEqual(exits.map(imapReason), ["success", "TransportFailure", "TransportFailure"])
      assert.strictEqual(state, "Closed")
      assert.strictEqual(imapReason(later), "TransportFailure")
    }))

  it.live("a tagged reply for a tag not in flight: ProtocolViolation for all, the connection is closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* play(three + "S: A77 OK forged\n-- expect-close", statuses)
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      const { exits, state } = exit.value
      assert.deepStrictEqual(exits.map(imapReason), ["success", "ProtocolViolation", "ProtocolViolation"])
      assert.include(H.reason(exits[1]!).message, "not in flight")
      assert.strictEqual(state, "Closed")
    }))

  it.live("interrupted callers: written commands' replies are read and dropped, an unwritten one is never sent", () =>
    Effect.gen(function*() {
      const { exit, log } = yield* play(
        String.raw`${H.LOGGED_IN}
          C: A4 STATUS INBOX ${ITEMS}
          C: A5 STATUS Archive ${ITEMS}
          C: A6 STATUS Sent ${ITEMS}
          -- delay 50
          S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1 UNSEEN 1)
          S+ A4 OK done
          S+ * STATUS Archive (MESSAGES 7 UIDNEXT 8 UIDVALIDITY 2 UNSEEN 0)
          S+ A5 OK done
          S+ * STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 3 UNSEEN 0)
          S+ A6 OK done
          C: A7 STATUS Archive ${ITEMS}
          -- delay 50
          S: * STATUS Archive (MESSAGES 7 UIDNEXT 8 UIDVALIDITY 2 UNSEEN 0)
          S+ A7 OK done
          C: A8 NOOP
          S: A8 OK done
        `,
        Effect.gen(function*() {
          const imap = yield* login
          // The first caller (whose command started the flight) and the second are interrupted
          // once their commands are written; the third still gets its answer.
          const fibers = yield* Effect.forEach(["INBOX", "Archive", "Sent"], (name) => Effect.forkChild(ImapClient.status(imap, name)))
          yield* Effect.sleep("15 millis")
          yield* Fiber.interrupt(fibers[0]!)
          yield* Fiber.interrupt(fibers[1]!)
          assert.strictEqual((yield* Fiber.join(fibers[2]!)).uidValidity, 3)
          // Two STATUS of one mailbox cannot be told apart: the second waits, unwritten, and is
          // interrupted there.
          const a = yield* Effect.forkChild(ImapClient.status(imap, "Archive"))
          const b = yield* Effect.forkChild(ImapClient.status(imap, "Archive"))
          yield* Effect.sleep("15 millis")
          yield* Fiber.interrupt(b)
          assert.strictEqual((yield* Fiber.join(a)).messages, 7)
          yield* ImapClient.noop(imap)
          assert.strictEqual(Connection.runtimeState(imap), "Authenticated")
        })
      )
      H.assertSuccess(exit)
      assert.strictEqual(log.filter((e) => e.dir === "C" && e.text.includes("STATUS Archive")).length, 2)
    }))
})

describe("property: concurrent operations give the results of sequential ones", () => {
  type Op =
    | { readonly _tag: "Status"; readonly mailbox: string }
    | { readonly _tag: "List" }
    | { readonly _tag: "Noop" }
    | { readonly _tag: "Fetch"; readonly uid: boolean; readonly from: number; readonly to: number }
    | {
      readonly _tag: "Store"
      readonly uid: boolean
      readonly from: number
      readonly to: number
      readonly action: "add" | "remove"
      readonly flag: string
      readonly silent: boolean
    }
    | { readonly _tag: "Search"; readonly uid: boolean; readonly flag: string }
    | { readonly _tag: "Copy"; readonly from: number; readonly to: number }
    | { readonly _tag: "Move"; readonly uid: number }

  const n = fc.integer({ min: 1, max: 7 })
  const flag = fc.constantFrom("\\Seen", "\\Flagged", "$Work")
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ _tag: fc.constant("Status" as const), mailbox: fc.constantFrom("INBOX", "Archive", "Sent", "Nope") }),
    fc.constant({ _tag: "List" as const }),
    fc.constant({ _tag: "Noop" as const }),
    fc.record({ _tag: fc.constant("Fetch" as const), uid: fc.boolean(), from: n, to: n }),
    fc.record({
      _tag: fc.constant("Store" as const),
      uid: fc.boolean(),
      from: n,
      to: n,
      action: fc.constantFrom("add" as const, "remove" as const),
      flag,
      silent: fc.boolean()
    }),
    fc.record({ _tag: fc.constant("Search" as const), uid: fc.boolean(), flag }),
    fc.record({ _tag: fc.constant("Copy" as const), from: n, to: n }),
    fc.record({ _tag: fc.constant("Move" as const), uid: n })
  )

  const criterion = (f: string) =>
    f === "\\Seen" ? SearchCriteria.seen : f === "\\Flagged" ? SearchCriteria.flagged : SearchCriteria.keyword(f)
  const message = (i: number) => `From: a@example.com\r\nSubject: m${i}\r\n\r\nbody ${i}\r\n`
  // IMAP4rev1's \Recent is the server's to set: left out of the comparisons.
  const flags = (f: ReadonlyArray<string> | undefined) => (f ?? []).filter((x) => x !== "\\Recent").sort()

  const run = (imap: ImapClient.ImapConnection<"Authenticated">, inbox: ImapClient.Selected, o: Op): Effect.Effect<unknown, unknown> => {
    switch (o._tag) {
      case "Status":
        return Effect.map(ImapClient.status(imap, o.mailbox), (s) => [s.name, s.messages, s.uidNext, s.unseen])
      case "List":
        return Effect.map(ImapClient.list(imap), (l) => l.map((m) => m.name))
      case "Noop":
        return ImapClient.noop(inbox)
      case "Fetch":
        return Effect.map(
          ImapClient.fetchAll(inbox, SequenceSet.range(o.from, o.to), { flags: true, uid: true }, { uid: o.uid }),
          (ms) => ms.map((m) => [m.seq, m.uid, flags(m.flags)])
        )
      case "Store":
        return Effect.map(
          ImapClient.store(inbox, SequenceSet.range(o.from, o.to), o.action, [o.flag], { uid: o.uid, silent: o.silent }),
          (rs) => rs.map((r) => [r.seq, r.uid, flags(r.flags)])
        )
      case "Search":
        return ImapClient.search(inbox, criterion(o.flag), { uid: o.uid })
      case "Copy":
        return ImapClient.copy(inbox, SequenceSet.range(o.from, o.to), "Archive", { uid: true })
      case "Move":
        return ImapClient.move(inbox, SequenceSet.single(o.uid), "Trash", { uid: true })
    }
  }

  /** Runs `ops` on a fresh server (one after the other, or all at once) and returns what each gave, the view and the store. */
  const outcome = (ops: ReadonlyArray<Op>, concurrent: boolean) =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ mailboxes: ImapServer.standardMailboxes })
      for (let i = 1; i <= 6; i++) server.append("alice", "INBOX", message(i), { flags: i % 2 === 0 ? ["\\Seen"] : [] })
      return yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        const each = ops.map((o) =>
          Effect.map(Effect.exit(run(imap, inbox, o)), (exit) => (Exit.isSuccess(exit) ? exit.value : `failed: ${imapReason(exit)}`))
        )
        const results = concurrent ? yield* Effect.all(each, all) : yield* Effect.all(each)
        yield* ImapClient.noop(inbox)
        const view = yield* ImapClient.mailbox(inbox)
        yield* ImapClient.logout(imap)
        const store = ["INBOX", "Archive", "Trash"].map((name) =>
          server.messages("alice", name).map((m) => [m.uid, flags(m.flags)])
        )
        return { results, view: view.messages.map((m) => [m.seq, m.uid, flags(m.flags)]), store }
      }).pipe(Effect.scoped, Effect.provide(layer))
    })

  it.live("random mixes against the in-memory ImapServer", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 12 }), async (ops) => {
          const [sequential, concurrent] = await Effect.runPromise(
            Effect.all([outcome(ops, false), outcome(ops, true)])
          )
          if (process.env["PDEBUG"]) console.log(JSON.stringify(ops), JSON.stringify(concurrent))
          assert.deepStrictEqual(concurrent, sequential)
        }),
        { numRuns: 30 }
      )
    ), { timeout: 30_000 })
})
