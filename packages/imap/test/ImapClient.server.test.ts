/**
 * The IMAP client end to end against the testkit's stateful in-memory server (real TLS over an
 * in-memory pair): a whole session, changes made by others reaching the view and the events, the
 * security modes, and a property: random command sequences compared with a model of the mailbox.
 */
import { assert, describe, it } from "@effect/vitest"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import { reasonOf } from "@starttls/testkit/Failures"
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ImapClient from "../src/ImapClient.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as H from "./ImapHarness.ts"

const message = (subject: string, body = "hello") =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n`
const bytes = (text: string) => new TextEncoder().encode(text)
const all = SequenceSet.range(1, "*")
// IMAP4rev1's \Recent is the server's to set; the comparisons leave it out.
const settable = (flags: ReadonlyArray<string> | undefined) => (flags ?? []).filter((f) => f !== "\\Recent")

describe("against the in-memory ImapServer", () => {
  it.live("a whole session: list, select, fetch, store, search, append, copy, move, expunge, status, mailboxes", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ mailboxes: ImapServer.standardMailboxes })
      server.append("alice", "INBOX", message("one"), { flags: ["\\Seen"] })
      server.append("alice", "INBOX", message("two"))
      server.append("alice", "INBOX", message("three", "x".repeat(3000)))
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const mailboxes = yield* ImapClient.list(imap)
        assert.deepStrictEqual(
          mailboxes.filter((m) => m.specialUse !== undefined).map((m) => [m.name, m.specialUse]).sort(),
          [["Archive", "\\Archive"], ["Drafts", "\\Drafts"], ["Junk", "\\Junk"], ["Sent", "\\Sent"], ["Trash", "\\Trash"]]
        )
        const inbox = yield* ImapClient.select(imap, "INBOX")
        assert.strictEqual(inbox.status.exists, 3)
        const fetched = yield* Stream.runCollect(
          ImapClient.fetch(inbox, all, { uid: true, flags: true, envelope: true, source: true, size: true })
        )
        assert.deepStrictEqual(fetched.map((m) => [m.uid, m.envelope?.subject, settable(m.flags)]), [
          [1, "one", ["\\Seen"]],
          [2, "two", []],
          [3, "three", []]
        ])
        assert.deepStrictEqual(fetched.map((m) => m.source?.length), fetched.map((m) => m.size))
        assert.strictEqual(new TextDecoder().decode(fetched[2]!.source), message("three", "x".repeat(3000)))

        assert.deepStrictEqual(yield* ImapClient.search(inbox, SearchCriteria.unseen), [2, 3])
        yield* ImapClient.store(inbox, SequenceSet.single(2), "add", ["\\Seen", "$Work"])
        assert.deepStrictEqual(yield* ImapClient.uidSearch(inbox, SearchCriteria.keyword("$Work")), [2])

        const appended = yield* ImapClient.append(imap, "Drafts", bytes(message("draft")), { flags: ["\\Draft"] })
        assert.strictEqual(appended.uid, 1)
        const copied = yield* ImapClient.copy(inbox, SequenceSet.single(1), "Archive")
        assert.strictEqual(copied.destinationUids, "1")
        yield* ImapClient.move(inbox, SequenceSet.single(3), "Trash", { uid: true })
        yield* ImapClient.store(inbox, SequenceSet.single(1), "add", ["\\Deleted"], { silent: true })
        assert.deepStrictEqual(yield* ImapClient.expunge(inbox), [1])
        const view = yield* ImapClient.mailbox(inbox)
        assert.strictEqual(view.status.exists, 1)
        assert.deepStrictEqual(view.messages.map((m) => [m.seq, m.uid]), [[1, 2]])

        const trash = yield* ImapClient.status(imap, "Trash", ["MESSAGES", "UIDNEXT"])
        assert.deepStrictEqual([trash.messages, trash.uidNext], [1, 2])
        yield* ImapClient.create(imap, "Projects/2024")
        yield* ImapClient.rename(imap, "Projects/2024", "Projects/2025")
        yield* ImapClient.subscribe(imap, "Projects/2025")
        yield* ImapClient.deleteMailbox(imap, "Projects/2025")
        const back = yield* ImapClient.closeMailbox(inbox)
        yield* ImapClient.logout(back)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(server.messages("alice", "INBOX").map((m) => [m.uid, settable(m.flags)]), [[2, ["\\Seen", "$Work"]]])
      assert.deepStrictEqual(server.messages("alice", "Trash").map((m) => m.uid), [1])
      assert.deepStrictEqual(server.messages("alice", "Archive").map((m) => m.uid), [1])
      const connection = server.connections()[0]!
      assert.strictEqual(Recording.plaintextClientBytes(connection.recording()), "A1 STARTTLS\r\n")
    }))

  it.live("changes made by another session reach the view and the event stream at NOOP", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      server.append("alice", "INBOX", message("one"))
      server.append("alice", "INBOX", message("two"))
      const events = yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        const stream = yield* ImapClient.events(inbox)
        yield* Stream.runDrain(ImapClient.fetch(inbox, all, { uid: true }))
        server.append("alice", "INBOX", message("three"))
        server.setFlags("alice", "INBOX", 2, ["\\Flagged"])
        server.expunge("alice", "INBOX", [1])
        yield* ImapClient.noop(inbox)
        const view = yield* ImapClient.mailbox(inbox)
        assert.strictEqual(view.status.exists, 2)
        assert.deepStrictEqual(view.messages.map((m) => [m.seq, m.uid, settable(m.flags)]), [[1, 2, ["\\Flagged"]]])
        yield* ImapClient.logout(inbox)
        return yield* Stream.runCollect(stream)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(events.map((e) => e._tag).sort(), ["Exists", "Expunge", "FlagsChanged"].sort())
    }))

  it.live("a big message: download streams it, fetch assembles it", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ writeChunkSize: 16 * 1024 })
      const body = "0123456789abcdef".repeat(20_000)
      server.append("alice", "INBOX", message("big", body))
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials, streamLiteralsAbove: 64 * 1024 })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        let chunks = 0
        let total = 0
        yield* ImapClient.download(inbox, 1).pipe(Stream.runForEach((chunk) =>
          Effect.sync(() => {
            chunks++
            total += chunk.length
          })
        ))
        assert.strictEqual(total, message("big", body).length)
        assert.isAbove(chunks, 5)
        const [m] = yield* Stream.runCollect(ImapClient.fetch(inbox, SequenceSet.single(1), { source: true }))
        assert.strictEqual(new TextDecoder().decode(m!.source), message("big", body))
      }).pipe(Effect.scoped, Effect.provide(layer))
    }))

  it.live("a connection dropped in the middle of a FETCH literal is a typed failure, never a complete message", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer({ faults: [{ _tag: "DropInFetchLiteral", afterBytes: 100 }] })
      server.append("alice", "INBOX", message("one", "y".repeat(1000)))
      const exit = yield* Effect.exit(Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        return yield* Stream.runCollect(ImapClient.fetch(inbox, all, { source: true }))
      }).pipe(Effect.scoped, Effect.provide(layer)))
      assert.strictEqual(reasonOf(exit as Exit.Exit<unknown, never>)._tag, "TransportFailure")
    }))

  it.live("security modes: implicit TLS; the plaintext twin refused under the default policy with no credential", () =>
    Effect.gen(function*() {
      const implicit = yield* H.memoryServer({ security: "implicit-tls" })
      const authed = yield* ImapClient.session({ ...H.options, port: 993, credentials: H.credentials }).pipe(
        Effect.map((imap) => imap.state),
        Effect.scoped,
        Effect.provide(implicit.layer)
      )
      assert.strictEqual(authed, "Authenticated")

      const twin = yield* H.memoryServer({ security: "plaintext" })
      const refused = yield* Effect.exit(
        ImapClient.session({ ...H.options, credentials: H.credentials }).pipe(Effect.scoped, Effect.provide(twin.layer))
      )
      assert.strictEqual(reasonOf(refused)._tag, "StartTlsRejected")
      const rec = twin.server.connections()[0]!.recording()
      assert.deepStrictEqual(Recording.findSecretsInPlaintext(rec, [H.password, H.plain]), [])
      assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 STARTTLS\r\n")

      // The same twin with the explicit dangerous layers: LOGIN in clear, with the policy visible in the type.
      const twin2 = yield* H.memoryServer({ security: "plaintext" })
      const state = yield* Effect.gen(function*() {
        const plain = yield* ImapClient.opportunistic(H.options)
        if (plain.state !== "Plain") return yield* Effect.die("expected Plain")
        const imap = yield* ImapClient.login(plain as ImapClient.ImapConnection<"Plain">, "alice", Redacted.make(H.password))
        return imap.state
      }).pipe(
        Effect.scoped,
        Effect.provide(twin2.layer),
        Effect.provide(TlsPolicy.opportunisticStartTlsDangerously),
        Effect.provide(TlsPolicy.allowPlaintextAuthDangerously)
      )
      assert.strictEqual(state, "Authenticated")
    }))

  it.live("pipelined session against the server: one write after the handshake, authenticated", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      yield* ImapClient.session({ ...H.options, credentials: H.credentials, authenticate: { mechanisms: ["PLAIN"] } }).pipe(
        Effect.flatMap((imap) => ImapClient.select(imap, "INBOX")),
        Effect.scoped,
        Effect.provide(layer)
      )
      assert.deepStrictEqual(server.connections()[0]!.commands.map((c) => c.name), [
        "STARTTLS",
        "CAPABILITY",
        "AUTHENTICATE",
        "SELECT"
      ])
    }))
})

describe("property: random command sequences against a model of the mailbox", () => {
  type Op =
    | { readonly _tag: "Append"; readonly subject: string; readonly seen: boolean }
    | { readonly _tag: "Store"; readonly at: number; readonly action: "add" | "remove"; readonly flag: string }
    | { readonly _tag: "Delete"; readonly at: number }
    | { readonly _tag: "Expunge" }
    | { readonly _tag: "Other"; readonly subject: string }
    | { readonly _tag: "Noop" }

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ _tag: fc.constant("Append" as const), subject: fc.stringMatching(/^[a-z]{1,8}$/), seen: fc.boolean() }),
    fc.record({
      _tag: fc.constant("Store" as const),
      at: fc.nat(),
      action: fc.constantFrom("add" as const, "remove" as const),
      flag: fc.constantFrom("\\Seen", "\\Flagged", "$Work")
    }),
    fc.record({ _tag: fc.constant("Delete" as const), at: fc.nat() }),
    fc.constant({ _tag: "Expunge" as const }),
    fc.record({ _tag: fc.constant("Other" as const), subject: fc.stringMatching(/^[a-z]{1,8}$/) }),
    fc.constant({ _tag: "Noop" as const })
  )

  interface Model {
    uid: number
    subject: string
    flags: Array<string>
  }

  it.live("FETCH, SEARCH and the view agree with the model after every command", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
          const program = Effect.gen(function*() {
            const { layer, server } = yield* H.memoryServer()
            yield* Effect.gen(function*() {
              const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
              const inbox = yield* ImapClient.select(imap, "INBOX")
              const model: Array<Model> = []
              let nextUid = 1
              for (const o of ops) {
                switch (o._tag) {
                  case "Append": {
                    const flags = o.seen ? ["\\Seen"] : []
                    const result = yield* ImapClient.append(imap, "INBOX", bytes(message(o.subject)), { flags })
                    assert.strictEqual(result.uid, nextUid)
                    model.push({ uid: nextUid++, subject: o.subject, flags })
                    break
                  }
                  case "Other":
                    // Another session delivers: the client learns it from unsolicited responses.
                    server.append("alice", "INBOX", message(o.subject))
                    model.push({ uid: nextUid++, subject: o.subject, flags: [] })
                    break
                  case "Store":
                  case "Delete": {
                    if (model.length === 0) break
                    yield* ImapClient.noop(inbox)
                    const seq = (o.at % model.length) + 1
                    const m = model[seq - 1]!
                    const flag = o._tag === "Delete" ? "\\Deleted" : o.flag
                    const action = o._tag === "Delete" ? "add" : o.action
                    const results = yield* ImapClient.store(inbox, SequenceSet.single(seq), action, [flag])
                    if (action === "add" && !m.flags.includes(flag)) m.flags.push(flag)
                    if (action === "remove") m.flags = m.flags.filter((f) => f !== flag)
                    assert.deepStrictEqual(results.map((r) => settable(r.flags).sort()), [[...m.flags].sort()])
                    break
                  }
                  case "Expunge": {
                    yield* ImapClient.noop(inbox)
                    const gone = yield* ImapClient.expunge(inbox)
                    const before = model.length
                    for (let i = model.length - 1; i >= 0; i--) if (model[i]!.flags.includes("\\Deleted")) model.splice(i, 1)
                    assert.strictEqual(gone.length, before - model.length)
                    break
                  }
                  case "Noop":
                    yield* ImapClient.noop(inbox)
                    break
                }
                yield* ImapClient.noop(inbox)
                const view = yield* ImapClient.mailbox(inbox)
                assert.strictEqual(view.status.exists, model.length)
                const fetched = yield* Stream.runCollect(
                  ImapClient.fetch(inbox, all, { uid: true, flags: true, envelope: true }).pipe(
                    Stream.filter(() => model.length > 0)
                  )
                ).pipe(Effect.catchReason("ImapError", "Bad", () => Effect.succeed([])))
                assert.deepStrictEqual(
                  fetched.map((m) => [m.uid, m.envelope?.subject, settable(m.flags).sort()]),
                  model.map((m) => [m.uid, m.subject, [...m.flags].sort()])
                )
                const unseen = yield* ImapClient.uidSearch(inbox, SearchCriteria.unseen)
                assert.deepStrictEqual(unseen, model.filter((m) => !m.flags.includes("\\Seen")).map((m) => m.uid))
              }
              yield* ImapClient.logout(inbox)
            }).pipe(Effect.scoped, Effect.provide(layer))
          })
          await Effect.runPromise(program)
        }),
        { numRuns: 40 }
      )
    ), { timeout: 30_000 })
})
