/**
 * The IMAP extensions against the real Dovecot of ../shared/mail-servers (load `/tmp/mailenv.sh`
 * first): IDLE seeing an APPEND made by a second connection, ENABLE CONDSTORE QRESYNC, QRESYNC's
 * VANISHED (EARLIER) after an expunge, CHANGEDSINCE / UNCHANGEDSINCE, ID, NAMESPACE, LIST, MOVE and
 * the MOVE fallback (Dovecot has MOVE: the capability is masked in memory for the fallback), UIDPLUS.
 * Every test works in its own uniquely named mailbox and deletes it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeTransport from "@starttls/core/NodeTransport"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ImapCapabilities from "../src/ImapCapabilities.ts"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapMailbox from "../src/ImapMailbox.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as H from "./ImapHarness.ts"
import * as Dovecot from "./RealDovecot.ts"

const options = Dovecot.sessionOptions
const message = (subject: string) =>
  new TextEncoder().encode(`From: a@localhost\r\nTo: b@localhost\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`)
let counter = 0
const unique = (what: string) => `Ext-${what}-${process.pid}-${Date.now()}-${++counter}`

/** Runs `body` with a fresh session and a scratch mailbox holding `count` messages; deletes it after. */
const withScratch = <A, E>(
  count: number,
  body: (
    imap: ImapClient.ImapConnection<"Authenticated">,
    mailbox: string
  ) => Effect.Effect<A, E, Scope.Scope | Transport>
) =>
  Effect.gen(function*() {
    const imap = yield* ImapClient.session(options)
    const mailbox = unique("box")
    yield* ImapClient.create(imap, mailbox)
    return yield* Effect.gen(function*() {
      for (let i = 1; i <= count; i++) yield* ImapClient.append(imap, mailbox, message(`m${i}`))
      return yield* body(imap, mailbox)
    }).pipe(Effect.ensuring(Effect.ignore(cleanup(mailbox))))
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

/** IDLE on `box` in a fiber of its own until an EXISTS reaches `count`, every event kept in `seen`. */
const idleUntilExists = (box: ImapClient.Selected, count: number) =>
  Effect.gen(function*() {
    const seen: Array<ImapMailbox.ImapEvent> = []
    const idling = yield* Effect.forkChild(
      ImapClient.idle(box).pipe(
        Stream.tap((event) => Effect.sync(() => seen.push(event))),
        Stream.takeUntil((event) => event._tag === "Exists" && event.count === count),
        Stream.runDrain
      )
    )
    return { seen, idling }
  })

/** APPENDs a message to `mailbox` over a second connection, logged out after. */
const appendElsewhere = (mailbox: string, subject: string) =>
  Effect.gen(function*() {
    const other = yield* ImapClient.session(options)
    yield* ImapClient.append(other, mailbox, message(subject))
    yield* ImapClient.logout(other)
  }).pipe(Effect.scoped)

/** Deletes a scratch mailbox on a connection of its own (the test's may be selected or broken). */
const cleanup = (mailbox: string) =>
  Effect.gen(function*() {
    const imap = yield* ImapClient.session(options)
    yield* ImapClient.deleteMailbox(imap, mailbox)
    yield* ImapClient.logout(imap)
  }).pipe(Effect.scoped)

describe.runIf(Dovecot.configured)("IMAP extensions against real Dovecot", () => {
  it.live("IDLE sees an APPEND made by a second connection; stopping leaves the connection usable", () =>
    withScratch(1, (imap, mailbox) =>
      Effect.gen(function*() {
        const box = yield* ImapClient.select(imap, mailbox)
        const { seen, idling } = yield* idleUntilExists(box, 2)
        yield* Effect.sleep("200 millis")
        yield* appendElsewhere(mailbox, "from elsewhere")
        yield* Fiber.join(idling).pipe(Effect.timeout("20 seconds"))
        assert.deepInclude(seen, { _tag: "Exists", mailbox, count: 2 })
        assert.strictEqual((yield* ImapClient.mailbox(box)).status.exists, 2)
        // DONE was answered: the connection takes the next command.
        yield* ImapClient.noop(box)
        const uids = yield* ImapClient.uidSearch(box, SearchCriteria.all)
        assert.strictEqual(uids.length, 2)
      })), { timeout: 30_000 })

  it.live("operations issued while idling run between IDLE cycles, and IDLE goes on after them", () =>
    withScratch(1, (imap, mailbox) =>
      Effect.gen(function*() {
        const box = yield* ImapClient.select(imap, mailbox)
        const { seen, idling } = yield* idleUntilExists(box, 2)
        yield* Effect.sleep("200 millis")
        const [status, found] = yield* Effect.all([ImapClient.status(imap, mailbox), ImapClient.search(box, SearchCriteria.all)], {
          concurrency: "unbounded"
        }).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(status.messages, 1)
        assert.deepStrictEqual(found, [1])
        yield* Effect.sleep("200 millis")
        yield* appendElsewhere(mailbox, "while idling again")
        yield* Fiber.join(idling).pipe(Effect.timeout("20 seconds"))
        assert.deepInclude(seen, { _tag: "Exists", mailbox, count: 2 })
      })), { timeout: 30_000 })

  it.live("ENABLE CONDSTORE QRESYNC; QRESYNC SELECT after an expunge: VANISHED (EARLIER) and changed flags", () =>
    withScratch(3, (imap, mailbox) =>
      Effect.gen(function*() {
        const enabled = yield* ImapClient.enable(imap, ["CONDSTORE", "QRESYNC", "UTF8=ACCEPT"])
        assert.sameMembers([...enabled].map((e) => e.toUpperCase()), ["CONDSTORE", "QRESYNC"])
        const first = yield* ImapClient.select(imap, mailbox)
        const known = { uidValidity: first.status.uidValidity!, modSeq: first.status.highestModSeq! }
        assert.isDefined(known.modSeq)
        const uids = yield* ImapClient.uidSearch(first, SearchCriteria.all)
        assert.strictEqual(uids.length, 3)
        const [one, two, three] = uids as [number, number, number]
        yield* ImapClient.store(first, SequenceSet.single(one), "add", ["\\Deleted"], { uid: true, silent: true })
        yield* ImapClient.uidExpunge(first, SequenceSet.single(one))
        yield* ImapClient.store(first, SequenceSet.single(two), "add", ["\\Flagged"], { uid: true, silent: true })
        yield* ImapClient.unselect(first)
        const again = yield* ImapClient.select(imap, mailbox, {
          qresync: { ...known, knownUids: SequenceSet.fromNumbers(uids) }
        })
        assert.deepStrictEqual(again.resync?.vanished, [String(one)])
        assert.deepStrictEqual(again.resync?.changed.map((m) => m.uid), [two])
        assert.include(again.resync?.changed[0]?.flags ?? [], "\\Flagged")
        const view = yield* ImapClient.mailbox(again)
        assert.deepInclude(view.messages, { seq: 1, uid: two, flags: again.resync!.changed[0]!.flags })
        // CHANGEDSINCE: only UID two changed after `known`.
        const changed = yield* Stream.runCollect(
          ImapClient.fetch(again, SequenceSet.all, { flags: true, modseq: true }, { uid: true, changedSince: known.modSeq })
        )
        assert.deepStrictEqual(changed.map((m) => m.uid), [two])
        assert.isAbove(Number(changed[0]!.modseq), Number(known.modSeq))
        // CHANGEDSINCE ... VANISHED: the expunged UID comes back as a Vanished (EARLIER) event.
        const events = yield* ImapClient.events(imap)
        const sinceKnown = yield* Stream.runCollect(
          ImapClient.fetch(again, SequenceSet.all, { flags: true }, { uid: true, changedSince: known.modSeq, vanished: true })
        )
        assert.deepStrictEqual(sinceKnown.map((m) => m.uid), [two])
        // (The first subscriber also gets the earlier events: the UID EXPUNGE's `VANISHED 1`, not EARLIER.)
        const vanished = yield* Stream.runCollect(
          events.pipe(Stream.filter((e) => e._tag === "Vanished" && e.earlier), Stream.take(1))
        )
        assert.deepStrictEqual(vanished, [{ _tag: "Vanished", mailbox, uids: String(one), earlier: true }])
        // UNCHANGEDSINCE: two changed since `known`, three did not: MODIFIED is data.
        const conditional = yield* ImapClient.store(again, SequenceSet.fromNumbers([two, three]), "add", ["\\Seen"], {
          uid: true,
          unchangedSince: known.modSeq
        })
        assert.isTrue(SequenceSet.has(conditional.modified!, two, two))
        assert.isFalse(SequenceSet.has(conditional.modified!, three, three))
        assert.deepStrictEqual(conditional.updated.map((u) => u.uid), [three])
        const modseqSearch = yield* ImapClient.uidSearch(again, SearchCriteria.modSeq(BigInt(known.modSeq) + 1n))
        assert.sameMembers([...modseqSearch], [two, three])
        // RFC 7162 §3.1.5: with a MODSEQ key the server reports the highest mod-sequence found.
        const found = yield* ImapClient.searchWithModSeq(again, SearchCriteria.modSeq(BigInt(known.modSeq) + 1n), { uid: true })
        assert.sameMembers([...found.numbers], [two, three])
        assert.isAbove(Number(found.modseq), Number(known.modSeq))
        const status = yield* ImapClient.status(imap, mailbox, ["HIGHESTMODSEQ", "MESSAGES"])
        assert.strictEqual(status.messages, 2)
        assert.isAbove(Number(status.highestModSeq), Number(known.modSeq))
      })), { timeout: 30_000 })

  it.live("ID and NAMESPACE; LIST; CREATE with special use is refused locally (no CREATE-SPECIAL-USE)", () =>
    withScratch(0, (imap, mailbox) =>
      Effect.gen(function*() {
        const id = yield* ImapClient.id(imap, { name: "starttls-tests", version: "0.1.0" })
        assert.strictEqual(id?.["name"], "Dovecot")
        const namespaces = yield* ImapClient.namespace(imap)
        assert.strictEqual(namespaces.personal.length, 1)
        assert.strictEqual(namespaces.personal[0]!.prefix, "")
        const list = yield* ImapClient.list(imap)
        assert.include(list.map((m) => m.name), mailbox)
        assert.isTrue(list.every((m) => m.specialUse === undefined || m.attributes.includes(m.specialUse)))
        const refused = yield* Effect.exit(ImapClient.create(imap, `${mailbox}-sent`, { specialUse: "\\Sent" }))
        assert.deepInclude(H.reason(refused), { _tag: "MissingCapability", capability: "CREATE-SPECIAL-USE" })
      })), { timeout: 30_000 })

  it.live("MOVE with COPYUID; the fallback (MOVE masked in memory) moves only its messages; APPENDUID", () =>
    withScratch(4, (imap, mailbox) =>
      Effect.gen(function*() {
        const target = unique("target")
        yield* ImapClient.create(imap, target)
        yield* Effect.gen(function*() {
          const appended = yield* ImapClient.append(imap, target, message("direct"))
          assert.isDefined(appended.uid)
          assert.isDefined(appended.uidValidity)
          const box = yield* ImapClient.select(imap, mailbox)
          const [a, b, c, d] = (yield* ImapClient.uidSearch(box, SearchCriteria.all)) as [number, number, number, number]
          const moved = yield* ImapClient.move(box, SequenceSet.single(a), target, { uid: true })
          assert.strictEqual(moved.sourceUids, String(a))
          assert.isDefined(moved.destinationUids)
          // Someone else's \Deleted message that must survive the fallback.
          yield* ImapClient.store(box, SequenceSet.single(d), "add", ["\\Deleted"], { uid: true, silent: true })
          const caps = yield* ImapClient.capabilities(imap)
          imap.session.capabilities = ImapCapabilities.make(caps.raw.filter((name) => name.toUpperCase() !== "MOVE"))
          const missing = yield* Effect.exit(ImapClient.move(box, SequenceSet.single(b), target, { uid: true }))
          assert.deepInclude(H.reason(missing), { _tag: "MissingCapability", capability: "MOVE" })
          const emulated = yield* ImapClient.move(box, SequenceSet.fromNumbers([b, c]), target, { uid: true, fallback: true })
          assert.strictEqual(emulated.sourceUids, SequenceSet.format(SequenceSet.fromNumbers([b, c])))
          assert.deepStrictEqual([...yield* ImapClient.uidSearch(box, SearchCriteria.all)], [d])
          const copied = yield* ImapClient.copy(box, SequenceSet.single(d), target, { uid: true })
          assert.strictEqual(copied.sourceUids, String(d))
          const status = yield* ImapClient.status(imap, target, ["MESSAGES"])
          assert.strictEqual(status.messages, 5)
          const missingUid = yield* Effect.exit(Stream.runCollect(ImapClient.download(box, a, { uid: true })))
          assert.deepInclude(H.reason(missingUid), { _tag: "NotFound" })
          yield* ImapClient.closeMailbox(box)
        }).pipe(Effect.ensuring(Effect.ignore(cleanup(target))))
      })), { timeout: 30_000 })

  it.live("ENABLE after a SELECT is refused locally (RFC 5161 §3.1), the connection goes on", () =>
    withScratch(0, (imap, mailbox) =>
      Effect.gen(function*() {
        const box = yield* ImapClient.examine(imap, mailbox)
        const back = yield* ImapClient.closeMailbox(box)
        const refused = yield* Effect.exit(ImapClient.enable(back, ["CONDSTORE"]))
        assert.deepInclude(H.reason(refused), { _tag: "InvalidState", command: "ENABLE" })
        yield* ImapClient.noop(back)
      })), { timeout: 30_000 })
})
