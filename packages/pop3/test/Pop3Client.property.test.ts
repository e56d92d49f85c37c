/**
 * The POP3 client against the stateful in-memory server (`@starttls/testkit/Pop3Server`), as an
 * oracle independent of the client:
 *
 * - random pipelined batches of TRANSACTION commands compared with a model of the maildrop, and the
 *   maildrop after QUIT compared with the model's;
 * - RETR byte-exact for random bodies full of dot-leading lines, whatever the server's write size
 *   and wherever the final CRLF "." CRLF is split (the split that hangs node-pop3), over TLS and,
 *   under the dangerous policy, in plaintext (where the wire frames line by line);
 * - deletions and dropped connections (S12), early-stopped streams, stale handles.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import { errorOf, reasonOf } from "@starttls/testkit/Failures"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Pop3Command from "../src/Pop3Command.ts"
import type * as Pop3Error from "../src/Pop3Error.ts"
import * as H from "./ClientHarness.ts"

const credentials = Credentials.password({ username: "test", password: Redacted.make("secret") })

const open = (server: Pop3Server.Pop3Server) =>
  <A, E>(f: (c: Pop3Client.Pop3Connection<"Authenticated">) => Effect.Effect<A, E>) =>
    Effect.flatMap(Pop3Client.session({ ...H.options, credentials }), f).pipe(
      Effect.scoped,
      Effect.provide(H.serving(server))
    )

// -----------------------------------------------------------------------------
// Arbitraries
// -----------------------------------------------------------------------------

/** Body lines, many starting with ".", some just ".", "..", or empty. */
const line = fc.oneof(
  fc.constantFrom(".", "..", "...", ". x", ".leading", "", " ", "From x"),
  fc.string({ unit: fc.constantFrom("a", "b", ".", " ", "\t", "é", ":"), maxLength: 30 })
)

const message = fc.tuple(
  fc.array(fc.constantFrom("Subject: s", "X-A: .b", "From: a@b"), { minLength: 1, maxLength: 3 }),
  fc.array(line, { maxLength: 25 })
).map(([header, body]) => `${header.join("\r\n")}\r\n\r\n${body.map((l) => `${l}\r\n`).join("")}`)

const maildrop = fc.array(message, { minLength: 1, maxLength: 6 })

const commandFor = (size: number): fc.Arbitrary<Pop3Client.TransactionCommand> => {
  const msg = fc.integer({ min: 1, max: size + 1 })
  return fc.oneof(
    fc.constant(Pop3Command.stat),
    fc.constant(Pop3Command.list()),
    msg.map(Pop3Command.list),
    fc.constant(Pop3Command.uidl()),
    msg.map(Pop3Command.uidl),
    msg.map(Pop3Command.retr),
    fc.tuple(msg, fc.integer({ min: 0, max: 4 })).map(([m, n]) => Pop3Command.top(m, n)),
    msg.map(Pop3Command.dele),
    msg.map(Pop3Command.dele),
    fc.constant(Pop3Command.rset),
    fc.constant(Pop3Command.noop)
  )
}

// -----------------------------------------------------------------------------
// The model: RFC 1939 §5, §7
// -----------------------------------------------------------------------------

interface Expected {
  readonly ok: boolean
  readonly text?: string
  readonly lines?: ReadonlyArray<string>
  readonly body?: string
}

const top = (bytes: string, lines: number): string => {
  const blank = bytes.indexOf("\r\n\r\n") + 4
  const body = bytes.slice(blank).split("\r\n").slice(0, -1)
  return bytes.slice(0, blank) + body.slice(0, lines).map((l) => `${l}\r\n`).join("")
}

const model = (messages: ReadonlyArray<Pop3Server.Message>) => {
  const deleted = new Set<number>()
  const live = () => messages.flatMap((m, i) => (deleted.has(i + 1) ? [] : [{ n: i + 1, m }]))
  const pick = (n: number) => (n <= messages.length && !deleted.has(n) ? messages[n - 1] : undefined)
  const answer = (command: Pop3Client.TransactionCommand): Expected => {
    switch (command._tag) {
      case "Stat":
        return { ok: true, text: `${live().length} ${live().reduce((s, x) => s + x.m.size, 0)}` }
      case "List":
      case "Uidl": {
        const field = (m: Pop3Server.Message) => (command._tag === "List" ? String(m.size) : m.uid)
        if (command.msg === undefined) return { ok: true, lines: live().map((x) => `${x.n} ${field(x.m)}`) }
        const m = pick(command.msg)
        return m === undefined ? { ok: false } : { ok: true, text: `${command.msg} ${field(m)}` }
      }
      case "Retr": {
        const m = pick(command.msg)
        return m === undefined ? { ok: false } : { ok: true, body: H.text(m.bytes) }
      }
      case "Top": {
        const m = pick(command.msg)
        return m === undefined ? { ok: false } : { ok: true, body: top(H.text(m.bytes), command.lines) }
      }
      case "Dele": {
        if (pick(command.msg) === undefined) return { ok: false }
        deleted.add(command.msg)
        return { ok: true }
      }
      case "Rset":
        deleted.clear()
        return { ok: true }
      case "Noop":
        return { ok: true }
    }
  }
  return { answer, deleted, survivors: () => live().map((x) => x.m.uid) }
}

const check = (reply: Pop3Client.Reply, expected: Expected, where: string) => {
  assert.strictEqual(reply.status._tag === "Ok", expected.ok, where)
  if (!expected.ok) return
  if (expected.text !== undefined) assert.strictEqual(reply.status.text.split(" ").slice(0, 2).join(" "), expected.text, where)
  if (expected.lines !== undefined) assert.deepStrictEqual(reply.lines, expected.lines, where)
  if (expected.body !== undefined) assert.strictEqual(H.text(reply.body ?? new Uint8Array(0)), expected.body, where)
}

// -----------------------------------------------------------------------------
// Properties
// -----------------------------------------------------------------------------

describe("pipelined batches against the in-memory server and a model of the maildrop", () => {
  it("answers match the model in order; QUIT removes exactly the model's deletions", () =>
    fc.assert(
      fc.asyncProperty(
        maildrop.chain((messages) =>
          fc.record({
            messages: fc.constant(messages),
            batches: fc.array(fc.array(commandFor(messages.length), { minLength: 1, maxLength: 12 }), {
              minLength: 1,
              maxLength: 3
            }),
            window: fc.integer({ min: 1, max: 8 })
          })
        ),
        ({ batches, messages, window }) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const server = yield* Pop3Server.make({ users: { test: { password: "secret", messages } } })
              const stored = server.maildrop("test")
              const m = model(stored)
              const quit = yield* open(server)((c) =>
                Effect.gen(function*() {
                  for (const [b, batch] of batches.entries()) {
                    const replies = yield* Pop3Client.pipeline(c, batch, { window })
                    assert.strictEqual(replies.length, batch.length)
                    replies.forEach((reply, i) => {
                      assert.strictEqual(reply.command, batch[i])
                      check(reply, m.answer(batch[i]!), `batch ${b} #${i} ${batch[i]!._tag}`)
                    })
                  }
                  return yield* Pop3Client.quit(c)
                })
              )
              assert.deepStrictEqual(quit.deleted, [...m.deleted].sort((a, b) => a - b))
              assert.deepStrictEqual(server.maildrop("test").map((x) => x.uid), m.survivors())
              const [session] = yield* server.awaitEnded(1)
              assert.strictEqual(session!.end._tag, "Quit")
            })
          )
      ),
      { numRuns: 25 }
    ), 20_000)
})

describe("RETR byte-exact under any chunking", () => {
  const chunking = fc.record({
    messages: maildrop,
    chunkSize: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 4096 })),
    at: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>
  })

  /** A server writing `chunkSize` bytes at a time and splitting every terminator after `at` bytes. */
  const splitting = (
    { at, chunkSize, messages }: { readonly at: 1 | 2 | 3 | 4; readonly chunkSize: number; readonly messages: Array<string> },
    security: Pop3Server.Security
  ) =>
    Pop3Server.make({
      users: { test: { password: "secret", messages } },
      security,
      chunkSize,
      faults: [{ _tag: "SplitTerminator", at }]
    })

  it("retrieve and retrieveAll over TLS give the stored bytes, whatever the write size and terminator split", () =>
    fc.assert(
      fc.asyncProperty(chunking, ({ at, chunkSize, messages }) =>
        Effect.runPromise(
          Effect.gen(function*() {
            const server = yield* splitting({ at, chunkSize, messages }, "starttls")
            const stored = server.maildrop("test").map((m) => H.text(m.bytes))
            const ids = stored.map((_, i) => i + 1)
            const { all, one } = yield* open(server)((c) =>
              Effect.gen(function*() {
                const one = yield* Effect.forEach(ids, (id) => Effect.map(Stream.mkUint8Array(Pop3Client.retrieve(c, id)), H.text))
                const all = yield* Stream.runCollect(Pop3Client.retrieveAll(c, ids))
                return { one, all: all.map((m) => H.text(m.bytes)) }
              })
            )
            assert.deepStrictEqual(one, stored)
            assert.deepStrictEqual(all, stored)
          })
        )
      ),
      { numRuns: 30 }
    ), 20_000)

  it("in plaintext (dangerous policy), where the wire frames line by line, the bytes are the same", () =>
    fc.assert(
      fc.asyncProperty(chunking, ({ at, chunkSize, messages }) =>
        Effect.runPromise(
          Effect.gen(function*() {
            const server = yield* splitting({ at, chunkSize, messages }, "plaintext")
            const stored = server.maildrop("test").map((m) => H.text(m.bytes))
            const got = yield* Effect.gen(function*() {
              const plain = yield* Pop3Client.connect(H.options)
              const c = yield* Pop3Client.login(plain, credentials)
              return yield* Stream.runCollect(Pop3Client.retrieveAll(c, stored.map((_, i) => i + 1)))
            }).pipe(Effect.scoped, Effect.provide(H.serving(server)), Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
            assert.deepStrictEqual(got.map((m) => H.text(m.bytes)), stored)
          })
        )
      ),
      { numRuns: 20 }
    ), 20_000)
})

describe("end to end with the in-memory server", () => {
  const MESSAGES = ["Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\n.second\r\n", "Subject: three\r\n\r\nthird\r\n"]
  const server = (config: Pop3Server.Config = {}) =>
    Pop3Server.make({ users: { test: { password: "secret", messages: MESSAGES } }, ...config })

  it.live("deleteMany then QUIT removes exactly those messages; the server confirms", () =>
    Effect.gen(function*() {
      const s = yield* server()
      const { marked, quit } = yield* open(s)((c) =>
        Effect.gen(function*() {
          const result = yield* Pop3Client.deleteMany(c, [1, 3, 7])
          return { marked: result, quit: yield* Pop3Client.quit(c) }
        })
      )
      assert.deepStrictEqual(marked.marked, [1, 3])
      assert.deepStrictEqual(marked.refused.map((r) => r.msg), [7])
      assert.deepStrictEqual(quit, { committed: true, deleted: [1, 3] })
      assert.deepStrictEqual(s.maildrop("test").map((m) => H.text(m.bytes)), [MESSAGES[1]])
    }))

  it.live("a session that ends without QUIT deletes nothing (RFC 1939 §6)", () =>
    Effect.gen(function*() {
      const s = yield* server()
      yield* open(s)((c) => Pop3Client.dele(c, 1))
      yield* s.awaitEnded(1)
      assert.strictEqual(s.maildrop("test").length, 3)
    }))

  for (const commit of [false, true]) {
    it.live(`the connection drops before QUIT's +OK (server ${commit ? "did" : "did not"} commit) → NotCommitted Unknown`, () =>
      Effect.gen(function*() {
        const s = yield* server({ faults: [{ _tag: "DropBeforeQuitReply", commit }] })
        const exit = yield* Effect.exit(open(s)((c) => Effect.andThen(Pop3Client.dele(c, 2), Pop3Client.quit(c))))
        const reason = (errorOf(exit) as Pop3Error.Pop3Error).reason
        assert.deepStrictEqual(
          [reason._tag, reason._tag === "NotCommitted" ? reason.outcome : "", reason._tag === "NotCommitted" ? reason.marked : []],
          ["NotCommitted", "Unknown", [2]]
        )
        assert.strictEqual(s.maildrop("test").length, commit ? 2 : 3)
      }))
  }

  it.live("a drop in the middle of RETR fails the stream; QUIT afterwards reports NotDeleted, nothing is deleted", () =>
    Effect.gen(function*() {
      const s = yield* server({ faults: [{ _tag: "DropDuringRetr", afterBodyBytes: 5, message: 2 }] })
      const { quit, retr } = yield* open(s)((c) =>
        Effect.gen(function*() {
          yield* Pop3Client.dele(c, 1)
          const retr = yield* Effect.exit(Stream.runDrain(Pop3Client.retrieve(c, 2)))
          const quit = yield* Effect.exit(Pop3Client.quit(c))
          return { retr, quit }
        })
      )
      assert.strictEqual(reasonOf(retr as Exit.Exit<unknown, MailError.MailError>)._tag, "TransportFailure")
      const reason = (errorOf(quit) as Pop3Error.Pop3Error).reason
      assert.deepStrictEqual([reason._tag, reason._tag === "NotCommitted" ? reason.outcome : ""], ["NotCommitted", "NotDeleted"])
      assert.strictEqual(s.maildrop("test").length, 3)
    }))

  it.live("retrieveAll stopped after one message drains the rest; the session goes on", () =>
    Effect.gen(function*() {
      const s = yield* server()
      const { first, stat } = yield* open(s)((c) =>
        Effect.gen(function*() {
          const first = yield* Stream.runCollect(Stream.take(Pop3Client.retrieveAll(c, [1, 2, 3]), 1))
          return { first, stat: yield* Pop3Client.stat(c) }
        })
      )
      assert.deepStrictEqual(first.map((m) => m.msg), [1])
      assert.strictEqual(stat.count, 3)
    }))

  it.live("TOP and UIDL agree with the server's store; a consumed handle is stale", () =>
    Effect.gen(function*() {
      const s = yield* server()
      const uids = s.maildrop("test").map((m) => m.uid)
      const result = yield* Effect.gen(function*() {
        const plain = yield* Pop3Client.connect(H.options)
        const secure = yield* Pop3Client.startTls(plain)
        const staleTls = yield* Effect.exit(Pop3Client.startTls(plain))
        const authed = yield* Pop3Client.authenticate(secure, credentials)
        const staleAuth = yield* Effect.exit(Pop3Client.authenticate(secure, credentials))
        const listing = yield* Pop3Client.uidl(authed)
        const head = yield* Stream.mkUint8Array(Pop3Client.top(authed, 2, 0))
        return { staleTls, staleAuth, listing, head: H.text(head) }
      }).pipe(Effect.scoped, Effect.provide(H.serving(s)))
      assert.strictEqual(reasonOf(result.staleTls)._tag, "StaleConnection")
      assert.strictEqual(reasonOf(result.staleAuth)._tag, "StaleConnection")
      assert.deepStrictEqual(result.listing.map((u) => u.uid), uids)
      assert.strictEqual(result.head, "Subject: two\r\n\r\n")
    }))

  it.live("APOP against the server's timestamp; USER/PASS when no SASL mechanism fits", () =>
    Effect.gen(function*() {
      const s = yield* server({ mechanisms: ["CRAM-MD5"] })
      const viaApop = yield* Effect.gen(function*() {
        const secure = yield* Pop3Client.secure(H.options)
        const authed = yield* Pop3Client.apop(secure, credentials)
        return yield* Pop3Client.stat(authed)
      }).pipe(Effect.scoped, Effect.provide(H.serving(s)))
      assert.strictEqual(viaApop.count, 3)
      // OAuth credentials cannot use CRAM-MD5 or USER: no fallback for them; passwords use CRAM-MD5.
      const stat = yield* open(s)(Pop3Client.stat)
      assert.strictEqual(stat.count, 3)
      const ended = yield* s.awaitEnded(2)
      assert.deepStrictEqual(ended.map((e) => e.authentication), ["APOP", "CRAM-MD5"])

      const userOnly = yield* server({ mechanisms: [] })
      yield* open(userOnly)(Pop3Client.stat)
      const [session] = yield* userOnly.awaitEnded(1)
      assert.strictEqual(session!.authentication, "USER")
    }))
})
