/**
 * Command pipelining against the real Dovecot of ../shared/mail-servers (load `/tmp/mailenv.sh`
 * first): 100 STATUS at once give the answers of 100 one after the other, and FETCH, STORE, SEARCH,
 * STATUS and NOOP run concurrently give what they give in sequence. Every mailbox used is this
 * run's own (created, then deleted).
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Effect from "effect/Effect"
import * as ImapClient from "../src/ImapClient.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as Dovecot from "./RealDovecot.ts"

const options = Dovecot.sessionOptions
const prefix = `pipetest-${process.pid}-${Date.now().toString(36)}`
const unbounded = { concurrency: "unbounded" } as const

/** Creates `names` for the test; deletes them (pipelined) when the scope closes, before the logout. */
const scratch = (imap: ImapClient.ImapConnection<"Authenticated">, names: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.forEach(names, (name) => ImapClient.create(imap, name), { discard: true }),
    () => Effect.forEach(names, (name) => Effect.ignore(ImapClient.deleteMailbox(imap, name)), { ...unbounded, discard: true })
  )

const message = (i: number) =>
  new TextEncoder().encode(`From: a@example.com\r\nTo: b@example.com\r\nSubject: pipelined ${i}\r\n\r\nbody ${i}\r\n`)

describe.runIf(Dovecot.configured)("pipelining against real Dovecot", () => {
  it.live("100 STATUS at once: the answers of 100 STATUS one after the other", () =>
    Effect.gen(function*() {
      const imap = yield* ImapClient.session(options)
      const names = Array.from({ length: 100 }, (_, i) => `${prefix}-s${i}`)
      yield* scratch(imap, names)
      yield* ImapClient.append(imap, names[7]!, message(7), { flags: ["\\Seen"] })
      const sequential = yield* Effect.forEach(names, (name) => ImapClient.status(imap, name))
      const pipelined = yield* Effect.forEach(names, (name) => ImapClient.status(imap, name), unbounded)
      assert.deepStrictEqual(pipelined, sequential)
      assert.deepStrictEqual(pipelined.map((s) => s.name), names)
      assert.deepStrictEqual([pipelined[7]!.messages, pipelined[7]!.unseen, pipelined[8]!.messages], [1, 0, 0])
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 30_000 })

  it.live("FETCH, STORE, SEARCH, STATUS, LIST and NOOP at once: what they give one after the other", () =>
    Effect.gen(function*() {
      const imap = yield* ImapClient.session(options)
      const [a, b] = [`${prefix}-a`, `${prefix}-b`]
      yield* scratch(imap, [a, b])
      for (const mailbox of [a, b]) {
        for (let i = 1; i <= 6; i++) {
          yield* ImapClient.append(imap, mailbox, message(i), { flags: i % 2 === 0 ? ["\\Seen"] : [] })
        }
      }
      const operations = (inbox: ImapClient.Selected) => [
        Effect.map(
          ImapClient.fetchAll(inbox, SequenceSet.range(1, 2), { uid: true, flags: true, envelope: true }, { uid: true }),
          (ms) => ms.map((m) => [m.uid, m.flags?.filter((f) => f !== "\\Recent"), m.envelope?.subject])
        ),
        Effect.map(ImapClient.store(inbox, SequenceSet.range(3, 4), "add", ["\\Flagged"], { uid: true }), (rs) =>
          rs.map((r) => [r.uid, r.flags.filter((f) => f !== "\\Recent").sort()])),
        ImapClient.uidSearch(inbox, SearchCriteria.flagged),
        Effect.map(ImapClient.fetchAll(inbox, SequenceSet.single(5), { source: true }, { uid: true }), (ms) =>
          ms.map((m) => new TextDecoder().decode(m.source))),
        ImapClient.search(inbox, SearchCriteria.unseen),
        Effect.map(ImapClient.status(imap, "Big"), (s) => [s.name, s.messages]),
        Effect.map(ImapClient.list(imap, { pattern: `${prefix}-*` }), (l) => l.map((m) => m.name).sort()),
        ImapClient.store(inbox, SequenceSet.single(6), "remove", ["\\Seen"], { uid: true, silent: true }),
        Effect.map(ImapClient.fetchAll(inbox, SequenceSet.range(1, "*"), { flags: true }), (ms) =>
          ms.map((m) => [m.seq, (m.flags ?? []).filter((f) => f !== "\\Recent").sort()])),
        ImapClient.noop(inbox)
      ] as const
      const sequential = yield* Effect.all(operations(yield* ImapClient.select(imap, a)))
      const selected = yield* ImapClient.select(imap, b)
      const pipelined = yield* Effect.all(operations(selected), unbounded)
      assert.deepStrictEqual(pipelined, sequential)
      assert.deepStrictEqual(sequential[2], [3, 4])
      assert.deepStrictEqual(sequential[4], [1, 3, 5])
      assert.deepStrictEqual(sequential[8].map((m) => m[1]), [[], ["\\Seen"], ["\\Flagged"], ["\\Flagged", "\\Seen"], [], []])
      // Nothing stays selected: the mailboxes are deleted next.
      yield* ImapClient.unselect(selected)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 30_000 })
})
