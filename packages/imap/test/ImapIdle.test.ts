/**
 * IDLE (RFC 2177) and its polling fallback: exact client bytes (transcripts), the restart before
 * the server's 29-minute limit and the dead-connection deadlines under `TestClock`, stopping that
 * leaves the connection usable, and end to end against the in-memory ImapServer.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import { errorOf } from "@starttls/testkit/Failures"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import type * as ImapMailbox from "../src/ImapMailbox.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as Idle from "../src/internal/client/idle.ts"
import * as X from "./ImapExtensionsHarness.ts"
import * as H from "./ImapHarness.ts"

const CAPS = "IMAP4rev1 IDLE UIDPLUS LITERAL+"
const NO_IDLE = "IMAP4rev1 UIDPLUS LITERAL+"
/** Scripted-server deadlines far beyond every TestClock adjustment of these tests. */
const PATIENT = { timeoutMs: 10 * 3_600_000 }

const collect = (stream: Stream.Stream<ImapMailbox.ImapEvent, unknown>) => {
  const seen: Array<ImapMailbox.ImapEvent> = []
  return { seen, run: Stream.runForEach(stream, (event) => Effect.sync(() => seen.push(event))) }
}

/** IDLE on `inbox` in a fiber of its own, once its first event is in. */
const idlingSeen = (inbox: ImapClient.Selected) =>
  Effect.gen(function*() {
    const { run, seen } = collect(ImapClient.idle(inbox))
    const fiber = yield* Effect.forkChild(run)
    yield* X.eventually(() => seen.length === 1, "the first event")
    return { fiber, seen }
  })

describe("IDLE transcripts", () => {
  it.live("events reach the stream, the view and `events`; the end sends DONE and the connection goes on", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S: * 4 EXISTS
          S: * 2 EXPUNGE
          S+ * 1 FETCH (FLAGS (\\Seen))
          C: DONE
          S: A5 OK Idle completed.
          C: A6 NOOP
          S: A6 OK done
          ${X.LOGOUT}
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const hub = yield* ImapClient.events(inbox)
          const seen = yield* Stream.runCollect(Stream.take(ImapClient.idle(inbox), 3))
          yield* ImapClient.noop(inbox)
          const view = yield* ImapClient.mailbox(inbox)
          yield* ImapClient.logout(inbox)
          return { seen, view, hub: yield* Stream.runCollect(hub) }
        })
      )
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      const expected: Array<ImapMailbox.ImapEvent> = [
        { _tag: "Exists", mailbox: "INBOX", count: 4 },
        { _tag: "Expunge", mailbox: "INBOX", seq: 2, uid: undefined },
        { _tag: "FlagsChanged", mailbox: "INBOX", seq: 1, uid: undefined, flags: ["\\Seen"] }
      ]
      assert.deepStrictEqual(exit.value.seen, expected)
      assert.deepStrictEqual(exit.value.hub, expected)
      assert.strictEqual(exit.value.view.status.exists, 3)
      assert.deepStrictEqual(exit.value.view.messages, [{ seq: 1, uid: undefined, flags: ["\\Seen"] }])
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
    }))

  it.live("restartAfter: DONE, the tagged OK, then IDLE again with a new tag", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          C: DONE
          S: A5 OK Idle completed.
          C: A6 IDLE
          S: + idling
          S+ * 7 EXISTS
          C: DONE
          S: A6 OK Idle completed.
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          return yield* Stream.runCollect(Stream.take(ImapClient.idle(inbox, { restartAfter: "150 millis" }), 1))
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, [{ _tag: "Exists", mailbox: "INBOX", count: 7 }])
    }))

  it.live("interrupting the consumer sends DONE and waits for the OK: the next command runs", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S+ * 4 EXISTS
          C: DONE
          S: * 5 EXISTS
          S: A5 OK Idle completed.
          C: A6 NOOP
          S: A6 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const { fiber } = yield* idlingSeen(inbox)
          yield* Fiber.interrupt(fiber)
          yield* ImapClient.noop(inbox)
          // The EXISTS that came before the OK still updated the view.
          return (yield* ImapClient.mailbox(inbox)).status.exists
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.strictEqual(exit.value, 5)
    }))

  it.live("the server refuses IDLE: ImapError Bad, the connection stays usable", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: A5 BAD [CLIENTBUG] not now
          C: A6 NOOP
          S: A6 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const refused = yield* Effect.exit(Stream.runDrain(ImapClient.idle(inbox)))
          yield* ImapClient.noop(inbox)
          return refused
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        const reason = (errorOf(exit.value) as ImapError.ImapError).reason
        assert.strictEqual(reason._tag, "Bad")
      }
    }))

  it.live("a BYE while idling: ImapError Bye", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S: * BYE Autologout; idle for too long
          -- close
        `,
        Effect.flatMap(X.selectInbox, (inbox) => Stream.runDrain(ImapClient.idle(inbox)))
      )
      assert.strictEqual(H.reason(exit)._tag, "Bye")
    }))

  it.live("a continuation request while idling: ProtocolViolation, the connection is closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S: + again
          -- expect-close
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const failed = yield* Effect.exit(Stream.runDrain(ImapClient.idle(inbox)))
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Closed")
          return yield* failed
        })
      )
      assert.strictEqual(H.reason(exit)._tag, "ProtocolViolation")
    }))

  it.live("a tagged OK instead of the continuation: ProtocolViolation (that is not IDLE)", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: A5 OK done already
          -- expect-close
        `,
        Effect.flatMap(X.selectInbox, (inbox) => Stream.runDrain(ImapClient.idle(inbox)))
      )
      assert.strictEqual(H.reason(exit)._tag, "ProtocolViolation")
    }))

  it.live("without IDLE: MissingCapability and nothing written; invalid durations: InvalidArgument", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(NO_IDLE)}
          C: A5 NOOP
          S: A5 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const missing = yield* Effect.exit(Stream.runDrain(ImapClient.idle(inbox)))
          const invalid = yield* Effect.exit(Stream.runDrain(ImapClient.idle(inbox, { restartAfter: 0 })))
          yield* ImapClient.noop(inbox)
          return [H.reason(missing), H.reason(invalid)]
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        const [missing, invalid] = exit.value
        assert.deepInclude(missing, { _tag: "MissingCapability", command: "IDLE", capability: "IDLE" })
        assert.deepInclude(invalid, { _tag: "InvalidArgument", field: "restartAfter" })
      }
    }))

  it.live("fallback poll: NOOP every pollInterval, its events on the stream", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(NO_IDLE)}
          C: A5 NOOP
          S: A5 OK nothing new
          C: A6 NOOP
          S: * 4 EXISTS
          S+ * 1 FETCH (FLAGS (\\Flagged))
          S+ A6 OK done
          C: A7 NOOP
          S: A7 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const seen = yield* Stream.runCollect(
            Stream.take(ImapClient.idle(inbox, { fallback: "poll", pollInterval: "100 millis" }), 2)
          )
          yield* ImapClient.noop(inbox)
          return seen.map((e) => e._tag)
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, ["Exists", "FlagsChanged"])
    }))

  it.live("fallback poll: an unanswered NOOP is a dead connection (Timeout, phase idle), closed", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(NO_IDLE)}
          C: A5 NOOP
          -- expect-close
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const failed = yield* Effect.exit(
            Stream.runDrain(ImapClient.idle(inbox, { fallback: "poll", doneTimeout: "100 millis" }))
          )
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Closed")
          return yield* failed
        })
      )
      assert.deepInclude(H.reason(exit), { _tag: "Timeout", phase: "idle", millis: 100 })
    }))
})

describe("IDLE timing under TestClock", () => {
  it("the restart is moved before the Wire's real-time idle read deadline", () => {
    assert.strictEqual(Idle.restartDelay(29 * 60_000, 30_000, 29 * 60_000), 29 * 60_000 - 30_000)
    assert.strictEqual(Idle.restartDelay(29 * 60_000, 30_000, 60 * 60_000), 29 * 60_000)
    assert.strictEqual(Idle.restartDelay(5 * 60_000, 30_000, 29 * 60_000), 5 * 60_000)
    // A tiny deadline: half of it, never zero.
    assert.strictEqual(Idle.restartDelay(29 * 60_000, 30_000, 1000), 500)
  })

  it.effect("the default restart comes after 29 minutes (with a longer read deadline), not before", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({
          ...H.options,
          timeouts: { ...H.options.timeouts, idle: 3_600_000 },
          credentials: H.credentials
        })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(ImapClient.idle(inbox), 1)))
        yield* X.eventually(() => X.received(server, "IDLE") === 1, "the first IDLE")
        yield* X.settle
        yield* TestClock.adjust(Duration.seconds(29 * 60 - 1))
        yield* X.realWait(50)
        assert.strictEqual(X.received(server, "IDLE"), 1)
        yield* TestClock.adjust(Duration.seconds(1))
        yield* X.eventually(() => X.received(server, "IDLE") === 2, "the IDLE after the restart")
        server.append("alice", "INBOX", "Subject: new\r\n\r\nhello\r\n")
        const seen = yield* Fiber.join(fiber)
        assert.deepStrictEqual(seen, [{ _tag: "Exists", mailbox: "INBOX", count: 1 }])
        yield* ImapClient.noop(inbox)
      }).pipe(Effect.scoped, Effect.provide(layer))
    }))

  it.effect("with the default read deadline (29 min) the restart comes 30 s (doneTimeout) earlier", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        yield* Effect.forkChild(Stream.runDrain(ImapClient.idle(inbox)))
        yield* X.eventually(() => X.received(server, "IDLE") === 1, "the first IDLE")
        yield* X.settle
        yield* TestClock.adjust(Duration.seconds(28 * 60 + 29))
        yield* X.realWait(50)
        assert.strictEqual(X.received(server, "IDLE"), 1)
        yield* TestClock.adjust(Duration.seconds(1))
        yield* X.eventually(() => X.received(server, "IDLE") === 2, "the IDLE after the restart")
        // Every restart re-arms the timer.
        yield* X.settle
        yield* TestClock.adjust(Duration.seconds(28 * 60 + 30))
        yield* X.eventually(() => X.received(server, "IDLE") === 3, "the second restart")
      }).pipe(Effect.scoped, Effect.provide(layer))
    }))

  it.effect("no reply to the restart's DONE within doneTimeout: Timeout (phase idle), connection closed", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S+ * 4 EXISTS
          C: DONE
          -- expect-close
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const { run, seen } = collect(ImapClient.idle(inbox, { restartAfter: "10 minutes", doneTimeout: "20 seconds" }))
          const fiber = yield* Effect.forkChild(Effect.exit(run))
          yield* X.eventually(() => seen.length === 1, "the first event")
          yield* X.settle
          yield* TestClock.adjust(Duration.minutes(10))
          yield* X.settle
          yield* TestClock.adjust(Duration.seconds(19))
          yield* X.settle
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Authenticated")
          yield* TestClock.adjust(Duration.seconds(1))
          const failed = yield* Fiber.join(fiber)
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Closed")
          // Later operations get the same failure.
          const later = yield* Effect.exit(ImapClient.noop(inbox))
          return [H.reason(failed), H.reason(later)]
        }),
        PATIENT
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        for (const reason of exit.value) assert.deepInclude(reason, { _tag: "Timeout", phase: "idle", millis: 20_000 })
      }
      assert.strictEqual(rec.outcome._tag, "Completed")
    }))

  it.effect("stopping with no reply to DONE: the stream ends, the connection is closed after doneTimeout", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S+ * 4 EXISTS
          C: DONE
          -- expect-close
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(ImapClient.idle(inbox), 1)))
          yield* X.settle
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Authenticated")
          yield* TestClock.adjust(Duration.seconds(30))
          const seen = yield* Fiber.join(fiber)
          assert.strictEqual(Connection.runtimeState(inbox.connection), "Closed")
          return { seen, later: H.reason(yield* Effect.exit(ImapClient.noop(inbox))) }
        }),
        PATIENT
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value.seen.length, 1)
        assert.deepInclude(exit.value.later, { _tag: "Timeout", phase: "idle", millis: 30_000 })
      }
    }))
})

describe("IDLE gives way to other operations", () => {
  it.live("a command issued while idling: DONE, the command, then IDLE again; the stream goes on", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          S+ * 4 EXISTS
          C: DONE
          S: A5 OK Idle completed.
          C: A6 STATUS Sent (MESSAGES)
          S: * STATUS Sent (MESSAGES 2)
          S+ A6 OK done
          C: A7 IDLE
          S: + idling
          S+ * 5 EXISTS
          C: DONE
          S: A7 OK Idle completed.
          C: A8 NOOP
          S: A8 OK done
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const { fiber, seen } = yield* idlingSeen(inbox)
          const status = yield* ImapClient.status(inbox, "Sent", ["MESSAGES"])
          yield* X.eventually(() => seen.length === 2, "the event of the second cycle")
          yield* Fiber.interrupt(fiber)
          yield* ImapClient.noop(inbox)
          return { status: status.messages, seen }
        })
      )
      H.assertSuccess(exit)
      if (Exit.isFailure(exit)) return
      assert.strictEqual(exit.value.status, 2)
      assert.deepStrictEqual(exit.value.seen.map((e) => (e._tag === "Exists" ? e.count : -1)), [4, 5])
    }))

  it.live("another mailbox selected meanwhile: the IDLE stream of the old one fails with StaleConnection", () =>
    Effect.gen(function*() {
      const { exit } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          C: DONE
          S: A5 OK Idle completed.
          C: A6 SELECT Archive
          S: * 0 EXISTS
          S+ A6 OK [READ-WRITE] selected
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          const fiber = yield* Effect.forkChild(Stream.runDrain(ImapClient.idle(inbox)))
          yield* Effect.sleep("30 millis")
          yield* ImapClient.select(inbox, "Archive")
          return yield* Fiber.await(fiber)
        })
      )
      H.assertSuccess(exit)
      if (Exit.isSuccess(exit)) assert.deepInclude(errorOf(exit.value).reason, { _tag: "StaleConnection" })
    }))

  it.live("logout while idling: DONE, then LOGOUT", () =>
    Effect.gen(function*() {
      const { exit, rec } = yield* H.play(
        String.raw`${X.selected(CAPS)}
          C: A5 IDLE
          S: + idling
          C: DONE
          S: A5 OK Idle completed.
          ${X.LOGOUT}
        `,
        Effect.gen(function*() {
          const inbox = yield* X.selectInbox
          yield* Effect.forkChild(Stream.runDrain(ImapClient.idle(inbox)))
          yield* Effect.sleep("30 millis")
          yield* ImapClient.logout(inbox)
        })
      )
      H.assertSuccess(exit)
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
    }))
})

describe("IDLE against the in-memory ImapServer", () => {
  it.live("changes by another session arrive while idling: EXISTS, FETCH flags, EXPUNGE; the view follows", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      server.append("alice", "INBOX", "Subject: one\r\n\r\n1\r\n")
      server.append("alice", "INBOX", "Subject: two\r\n\r\n2\r\n")
      const result = yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        yield* Stream.runDrain(ImapClient.fetch(inbox, SequenceSet.all, { uid: true }))
        const { run, seen } = collect(ImapClient.idle(inbox))
        const fiber = yield* Effect.forkChild(run)
        yield* X.eventually(() => X.received(server, "IDLE") === 1, "IDLE")
        server.append("alice", "INBOX", "Subject: three\r\n\r\n3\r\n")
        yield* X.eventually(() => seen.length >= 1, "EXISTS")
        server.setFlags("alice", "INBOX", 2, ["\\Flagged"])
        yield* X.eventually(() => seen.some((e) => e._tag === "FlagsChanged"), "the flag change")
        server.expunge("alice", "INBOX", [1])
        yield* X.eventually(() => seen.some((e) => e._tag === "Expunge"), "EXPUNGE")
        yield* Fiber.interrupt(fiber)
        const view = yield* ImapClient.mailbox(inbox)
        const uids = yield* ImapClient.uidSearch(inbox, { _tag: "All" })
        return { seen, view, uids }
      }).pipe(Effect.scoped, Effect.provide(layer))
      const tags = result.seen.map((e) => e._tag)
      assert.deepStrictEqual([tags[0], tags.at(-1)], ["Exists", "Expunge"])
      assert.include(tags, "FlagsChanged")
      assert.strictEqual(result.view.status.exists, 2)
      assert.deepInclude(result.view.messages[0], { seq: 1, uid: 2 })
      assert.deepStrictEqual(result.uids, [2, 3])
    }))

  it.live("pipelined operations while idling run between IDLE cycles; events keep coming", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* H.memoryServer()
      server.append("alice", "INBOX", "Subject: one\r\n\r\n1\r\n")
      for (const name of ["Sent", "Drafts"]) server.createMailbox("alice", name)
      const result = yield* Effect.gen(function*() {
        const imap = yield* ImapClient.session({ ...H.options, credentials: H.credentials })
        const inbox = yield* ImapClient.select(imap, "INBOX")
        const { run, seen } = collect(ImapClient.idle(inbox))
        const fiber = yield* Effect.forkChild(run)
        yield* X.eventually(() => X.received(server, "IDLE") === 1, "IDLE")
        const statuses = yield* Effect.all(
          ["INBOX", "Sent", "Drafts"].map((name) => ImapClient.status(imap, name)),
          { concurrency: "unbounded" }
        )
        const found = yield* ImapClient.search(inbox, { _tag: "All" })
        yield* X.eventually(() => X.received(server, "IDLE") >= 2, "IDLE again")
        server.append("alice", "INBOX", "Subject: two\r\n\r\n2\r\n")
        yield* X.eventually(() => seen.length >= 1, "EXISTS after the operations")
        yield* Fiber.interrupt(fiber)
        return { statuses: statuses.map((s) => [s.name, s.messages]), found, seen }
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(result.statuses, [["INBOX", 1], ["Sent", 0], ["Drafts", 0]])
      assert.deepStrictEqual(result.found, [1])
      assert.deepInclude(result.seen, { _tag: "Exists", mailbox: "INBOX", count: 2 })
    }))
})
