/**
 * Command pipelining for the IMAP client (RFC 9051 §5.5): commands issued concurrently on one
 * connection are written without waiting for each other's tagged replies, and the replies are
 * matched by tag. `Effect.all([...], { concurrency: "unbounded" })` over STATUS, LIST, NOOP,
 * FETCH into memory, STORE, SEARCH, COPY ... puts them in one write.
 *
 * How it runs. Every connection has a line: the queue (commands not written yet) and the flight
 * (written, waiting for their tagged reply), both in order. An operation queues its command and
 * waits for its reply (each caller resumes when its own reply is in). The first one also starts
 * the connection's driver, a fiber of its own that first lets the microtasks queued now run (so
 * that operations started together join the same flight), takes the session lock, then writes
 * every queued command that may go now (one write for all), reads what arrived, hands it out,
 * writes what may go next, and so on until the flight is empty; then it gives the lock back.
 * Because the lock is held while anything is in flight, whatever else takes it (the operations
 * that run alone: SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, APPEND, FETCH streams, IDLE,
 * COMPRESS, ENABLE, LOGOUT, STARTTLS, authentication) starts on a quiet connection; while one of
 * them waits for the lock (`exclusive`), the driver writes nothing new and lets it go first.
 * Tags come from the connection's counter in write order.
 *
 * Ordering (a queued command is checked against every command in flight; queue order is kept, so a
 * command that may not go yet holds back the ones behind it):
 * - barriers go alone: nothing in flight when written, nothing else written until their tagged
 *   reply. Every command not named below is one, and so are MOVE, a command using `$` (RFC 5182),
 *   SEARCH RETURN (SAVE), FETCH VANISHED, LIST RETURN (STATUS), and any command whose encoding needs
 *   a synchronizing literal (it is written the usual way, waiting for the "+");
 * - a command using message sequence numbers (FETCH, STORE, SEARCH, COPY without UID, or a SEARCH
 *   with a sequence-set key) is not written while a command that may produce EXPUNGE responses is
 *   in flight: anything but FETCH, STORE and SEARCH without UID (RFC 9051 §5.5);
 * - untagged answers must be attributable. A command claims one kind of untagged response, and
 *   commands whose claims could collide are not in flight together:
 *   STATUS claims `* STATUS` for its mailbox (two STATUS of one mailbox collide);
 *   LIST and LSUB claim `* LIST` / `* LSUB` (any two collide);
 *   SEARCH claims `* SEARCH` / `* ESEARCH` (any two collide);
 *   FETCH and STORE (not .SILENT) claim `* FETCH` for the messages of their set, by UID for UID
 *   commands (the server includes it, RFC 9051 §6.4.9) and by sequence number otherwise: two
 *   collide unless both use UIDs or both not, and their sets are disjoint (`*` is unbounded);
 *   COPY claims an untagged `OK [COPYUID]` (two COPY collide);
 *   NOOP, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE and STORE .SILENT (without
 *   UNCHANGEDSINCE, RFC 7162 §3.1.3) claim nothing; a barrier's claimer sees everything.
 *   An untagged response goes to the first command in flight (write order) that claims it, else to
 *   `State.absorb`.
 *
 * Failures: a tagged NO / BAD fails its command only. A `* BYE` fails every command in flight or
 * queued with `ImapError` `Bye`; a dropped connection or a timeout fails them with the wire's error;
 * a protocol violation (a tagged reply for a tag not in flight, a continuation request, literal data
 * outside a FETCH) with `ProtocolViolation`. In these three cases the connection is closed.
 *
 * Interruption: a caller interrupted before its command was written takes it out of the queue
 * (nothing is sent); one interrupted later leaves the connection in step: the driver (never the
 * caller's fiber, not even for the caller that started it) reads its reply all the same (what its
 * claimer does to the mailbox view still happens) and drops the result. The connection stays open.
 *
 * Never call `submit` while holding the session lock (inside `withState`): the driver needs it.
 * Queuing a command or waiting to run alone calls `State.wanted`: an IDLE in progress (which holds
 * the lock between its cycles only) ends its cycle with DONE and lets the operation go first.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import * as MailboxName from "../../MailboxName.ts"
import type * as SearchCriteria from "../../SearchCriteria.ts"
import * as SequenceSet from "../../SequenceSet.ts"
import * as Command from "./command.ts"
import * as Fetch from "./fetch.ts"
import * as State from "./state.ts"

// -----------------------------------------------------------------------------
// Ordering
// -----------------------------------------------------------------------------

/** Closed intervals, sorted and merged (`*` is `Infinity`). */
type Spans = ReadonlyArray<readonly [number, number]>

/** The untagged responses a command takes as its own. */
export type Claims =
  | { readonly _tag: "None" }
  /** A barrier's: nothing else is in flight, its claimer sees every untagged response. */
  | { readonly _tag: "Any" }
  | { readonly _tag: "Status"; readonly mailbox: string }
  | { readonly _tag: "List" }
  | { readonly _tag: "Search" }
  | { readonly _tag: "Fetch"; readonly uid: boolean; readonly set: SequenceSet.SequenceSet; readonly spans: Spans }
  | { readonly _tag: "CopyUid" }

/** How a command orders with the others in flight. */
export interface Kind {
  readonly barrier: boolean
  /** It uses message sequence numbers. */
  readonly seq: boolean
  /** The server may send EXPUNGE responses while it runs (RFC 9051 §5.5). */
  readonly expunges: boolean
  readonly claims: Claims
}

const NONE: Claims = { _tag: "None" }
const BARRIER: Kind = { barrier: true, seq: true, expunges: true, claims: { _tag: "Any" } }

const spansOf = (set: SequenceSet.Ranges): Spans => {
  const spans = set.ranges
    .map((r): readonly [number, number] => {
      const a = r.start === "*" ? Infinity : r.start
      const b = r.end === "*" ? Infinity : r.end
      return [Math.min(a, b), Math.max(a, b)]
    })
    .sort((x, y) => x[0] - y[0])
  const merged: Array<readonly [number, number]> = []
  for (const span of spans) {
    const last = merged[merged.length - 1]
    if (last !== undefined && span[0] <= last[1] + 1) merged[merged.length - 1] = [last[0], Math.max(last[1], span[1])]
    else merged.push(span)
  }
  return merged
}

const overlap = (a: Spans, b: Spans): boolean => {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = a[i]!
    const y = b[j]!
    if (x[0] <= y[1] && y[0] <= x[1]) return true
    if (x[1] < y[1]) i++
    else j++
  }
  return false
}

/** What a search key needs: `$` (SEARCHRES) makes the command a barrier. */
const keysOf = (criterion: SearchCriteria.Criterion): { seq: boolean; saved: boolean } => {
  switch (criterion._tag) {
    case "Sequence":
    case "Uid":
      return { seq: criterion._tag === "Sequence", saved: criterion.set._tag === "Saved" }
    case "Not":
      return keysOf(criterion.criterion)
    case "Or": {
      const l = keysOf(criterion.left)
      const r = keysOf(criterion.right)
      return { seq: l.seq || r.seq, saved: l.saved || r.saved }
    }
    case "And": {
      const out = { seq: false, saved: false }
      for (const c of criterion.criteria) {
        const k = keysOf(c)
        out.seq ||= k.seq
        out.saved ||= k.saved
      }
      return out
    }
    default:
      return { seq: false, saved: false }
  }
}

const plain = (claims: Claims, seq = false, expunges = true): Kind => ({ barrier: false, seq, expunges, claims })

/** How `command` orders with others (see the module header). */
export const kindOf = (command: ImapCommand.ImapCommand): Kind => {
  switch (command._tag) {
    case "Noop":
    case "Create":
    case "Delete":
    case "Rename":
    case "Subscribe":
    case "Unsubscribe":
      return plain(NONE)
    case "Status":
      return plain({ _tag: "Status", mailbox: MailboxName.normalize(command.mailbox) })
    case "List":
      return command.return?.status === undefined ? plain({ _tag: "List" }) : BARRIER
    case "Lsub":
      return plain({ _tag: "List" })
    case "Search": {
      const keys = keysOf(command.criteria)
      if (keys.saved || command.return?.includes("SAVE") === true) return BARRIER
      return plain({ _tag: "Search" }, !command.uid || keys.seq, command.uid)
    }
    case "Fetch":
    case "Store": {
      const set = command.set
      if (set._tag === "Saved" || (command._tag === "Fetch" && command.vanished === true)) return BARRIER
      // RFC 7162 §3.1.3: a conditional STORE reports MODSEQ even with .SILENT.
      const claims: Claims = command._tag === "Store" && command.silent && command.unchangedSince === undefined
        ? NONE
        : { _tag: "Fetch", uid: command.uid, set, spans: spansOf(set) }
      return plain(claims, !command.uid, command.uid)
    }
    case "Copy":
      return command.set._tag === "Saved" ? BARRIER : plain({ _tag: "CopyUid" }, !command.uid)
    default:
      return BARRIER
  }
}

const collide = (a: Claims, b: Claims): boolean => {
  switch (a._tag) {
    case "None":
      return false
    case "Status":
      return b._tag === "Status" && b.mailbox === a.mailbox
    case "Fetch":
      return b._tag === "Fetch" && (b.uid !== a.uid || overlap(a.spans, b.spans))
    default:
      return b._tag === a._tag
  }
}

/** Whether a command of `kind` may be written while `flight` is in flight. */
export const mayGo = (kind: Kind, flight: ReadonlyArray<{ readonly kind: Kind }>): boolean => {
  if (kind.barrier) return flight.length === 0
  for (const other of flight) {
    const k = other.kind
    if (k.barrier || (kind.seq && k.expunges) || collide(kind.claims, k.claims)) return false
  }
  return true
}

// -----------------------------------------------------------------------------
// The line
// -----------------------------------------------------------------------------

/** Takes an untagged response as part of the command's result (true); gets the literals the parser streamed for a FETCH. */
export type Claim = (response: ImapResponse.Untagged, assembled: ReadonlyArray<Fetch.Assembling>) => boolean

/** A command to pipeline. */
export interface Request {
  readonly command: ImapCommand.ImapCommand
  /** The command's name in errors ("STATUS"). */
  readonly name: string
  readonly claim?: Claim | undefined
  /** Checked when the command is about to be written: a stale handle fails it, unwritten. */
  readonly check: () => MailError.MailError | undefined
}

type Failure = ImapError.ImapError | MailError.MailError

interface Entry extends Request {
  readonly kind: Kind
  readonly reply: Deferred.Deferred<ImapResponse.Tagged, Failure>
  tag: string | undefined
}

interface Line {
  readonly queue: Array<Entry>
  readonly flight: Array<Entry>
  /** A driver fiber exists (it holds the lock or waits for it). */
  driving: boolean
  /** Operations waiting for the lock to run alone. */
  exclusive: number
  /** Literals the parser streamed, for the FETCH response they belong to. */
  assembled: Array<Fetch.Assembling>
}

const lines = new WeakMap<State.State, Line>()

const lineOf = (state: State.State): Line => {
  let line = lines.get(state)
  if (line === undefined) {
    line = { queue: [], flight: [], driving: false, exclusive: 0, assembled: [] }
    lines.set(state, line)
  }
  return line
}

/**
 * Runs `body`, which takes the session lock to run alone, announcing it: until `acquired` runs (or
 * `body` ends), the driver writes no new command and gives the lock up when its flight is empty.
 */
export const exclusive = <A, E, R>(
  session: State.Session,
  body: (acquired: Effect.Effect<void>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const state = State.of(session)
    const line = lineOf(state)
    line.exclusive++
    state.wanted?.()
    let waiting = true
    const acquired = Effect.sync(() => {
      if (waiting) {
        waiting = false
        line.exclusive--
      }
    })
    return Effect.ensuring(body(acquired), acquired)
  })

/** Whether an operation waits for the connection (a command queued, or one that runs alone). */
export const wanted = (state: State.State): boolean => {
  const line = lines.get(state)
  return line !== undefined && (line.exclusive > 0 || line.queue.length > 0)
}

const settle = (entry: Entry, exit: Exit.Exit<ImapResponse.Tagged, Failure>): void => {
  Deferred.doneUnsafe(entry.reply, exit)
}

type Step =
  | { readonly _tag: "Write"; readonly chunks: ReadonlyArray<Uint8Array>; readonly trace: ReadonlyArray<string> }
  | { readonly _tag: "Alone"; readonly entry: Entry }

/** Takes from the queue what may be written now (see the module header). */
const pump = (session: State.Session, state: State.State, line: Line): Step => {
  const chunks: Array<Uint8Array> = []
  const trace: Array<string> = []
  while (line.queue.length > 0 && line.exclusive === 0) {
    const entry = line.queue[0]!
    const stale = entry.check()
    if (stale !== undefined) {
      line.queue.shift()
      settle(entry, Exit.fail(stale))
      continue
    }
    if (!mayGo(entry.kind, line.flight)) break
    const tag = State.peekTag(state)
    const encoded = ImapCommand.encode(tag, entry.command, {
      capabilities: Command.capabilitiesOf(session),
      utf8: state.utf8
    })
    if (Result.isFailure(encoded)) {
      line.queue.shift()
      settle(entry, Exit.fail(Command.invalid(entry.name, encoded.failure)))
      continue
    }
    const bytes = Command.lineBytes(encoded.success)
    if (bytes === undefined) {
      // A synchronizing literal waits for the server's "+" (RFC 9051 §7.6): alone, the usual way.
      if (line.flight.length > 0) break
      line.queue.shift()
      return { _tag: "Alone", entry }
    }
    line.queue.shift()
    entry.tag = State.nextTag(state)
    line.flight.push(entry)
    for (const b of bytes) chunks.push(b)
    trace.push(encoded.success.redacted)
    if (entry.kind.barrier) break
  }
  return { _tag: "Write", chunks, trace }
}

/** Whether `response` is of the kind `claims` takes (the claimer then decides). */
const offered = (
  claims: Claims,
  response: ImapResponse.Untagged,
  state: State.State,
  statusName: () => string | undefined
): boolean => {
  switch (claims._tag) {
    case "None":
      return false
    case "Any":
      return true
    case "Status":
      return response._tag === "Status" && statusName() === claims.mailbox
    case "List":
      return response._tag === "List" || response._tag === "Lsub"
    case "Search":
      return response._tag === "Search" || response._tag === "ESearch"
    case "CopyUid":
      return response._tag === "Condition" && response.status === "OK" && response.code?._tag === "COPYUID"
    case "Fetch": {
      if (response._tag !== "Fetch") return false
      if (claims.uid) {
        const uid = response.attributes.uid
        return uid !== undefined && SequenceSet.has(claims.set, uid, uid)
      }
      const exists = state.selected?.view.status.exists ?? 0
      return SequenceSet.has(claims.set, response.seq, Math.max(exists, response.seq))
    }
  }
}

/** Hands an untagged response to the first command in `flight` that claims it; false if none does. */
const hand = (
  session: State.Session,
  state: State.State,
  flight: ReadonlyArray<Entry>,
  response: ImapResponse.Untagged,
  assembled: ReadonlyArray<Fetch.Assembling>
): boolean => {
  let name: string | undefined | null = null
  const statusName = () => {
    if (name === null) {
      const decoded = response._tag === "Status"
        ? MailboxName.decode(response.mailbox, { utf8: Command.utf8Names(session) })
        : undefined
      name = decoded !== undefined && Result.isSuccess(decoded) ? decoded.success : undefined
    }
    return name
  }
  for (const entry of flight) {
    const claim = entry.claim
    if (claim !== undefined && offered(entry.kind.claims, response, state, statusName) && claim(response, assembled)) {
      return true
    }
  }
  return false
}

const violation = (detail: string): MailError.MailError =>
  MailError.make(new MailError.ProtocolViolation({ phase: "command", detail }))

/** Closes the connection, then fails every command in flight or queued. */
const stop = (
  session: State.Session,
  line: Line,
  failure: (entry: Entry) => Failure,
  cause?: MailError.MailError
): Effect.Effect<void> =>
  Effect.andThen(
    Connection.abandon(session, cause),
    Effect.sync(() => {
      const entries = [...line.flight.splice(0), ...line.queue.splice(0)]
      line.assembled = []
      for (const entry of entries) settle(entry, Exit.fail(failure(entry)))
    })
  )

/** Takes a batch of frames; returns how the flight ends if it must (BYE, violation). */
const receive = (
  session: State.Session,
  state: State.State,
  line: Line,
  frames: ReadonlyArray<ImapResponse.Frame>
): Effect.Effect<void> | undefined => {
  for (const frame of frames) {
    switch (frame._tag) {
      case "Tagged": {
        const i = line.flight.findIndex((entry) => entry.tag === frame.tag)
        if (i < 0) {
          const error = violation(Command.notInFlight(frame.tag))
          return stop(session, line, () => error)
        }
        const entry = line.flight[i]!
        line.flight.splice(i, 1)
        state.inFlight.delete(frame.tag)
        State.alert(state, frame.code, frame.text)
        settle(entry, frame.status === "OK" ? Exit.succeed(frame) : Exit.fail(Command.refusal(entry.name, frame)))
        break
      }
      case "Continuation": {
        const error = violation("unexpected continuation request")
        return stop(session, line, () => error)
      }
      case "LiteralStart": {
        if (!line.flight.some((entry) => entry.kind.claims._tag === "Fetch")) {
          const error = violation("unexpected literal data outside FETCH")
          return stop(session, line, () => error)
        }
        const started = Fetch.assemble(session, frame)
        // Over the limit, the reply cannot be taken apart any further: the connection is closed.
        if (Result.isFailure(started)) return stop(session, line, () => started.failure)
        line.assembled.push(started.success)
        break
      }
      case "LiteralChunk":
        Fetch.addChunk(line.assembled[line.assembled.length - 1], frame)
        break
      case "Condition":
        if (frame.status === "BYE") {
          State.absorb(state, frame)
          const text = frame.text
          return stop(session, line, (entry) => ImapError.make(new ImapError.Bye({ command: entry.name, untrustedText: text })))
        }
        if (!hand(session, state, line.flight, frame, [])) State.absorb(state, frame)
        break
      default: {
        const assembled = line.assembled
        if (frame._tag === "Fetch" && assembled.length > 0) line.assembled = []
        if (!hand(session, state, line.flight, frame, assembled)) State.absorb(state, frame)
      }
    }
  }
  return undefined
}

/** Writes and reads, holding the lock, until nothing is in flight. */
const fly = (session: State.Session, state: State.State, line: Line): Effect.Effect<void> => {
  const wire = session.wire
  const loop: Effect.Effect<void, MailError.MailError> = Effect.suspend(() => {
    State.settle(session, state)
    const step = pump(session, state, line)
    if (step._tag === "Alone") {
      const entry = step.entry
      const claim = entry.claim
      return Effect.flatMap(
        Effect.exit(Command.run(session, entry.command, {
          name: entry.name,
          onUntagged: claim === undefined
            ? undefined
            : (response) => hand(session, state, [entry], response, [])
        })),
        (exit) => {
          settle(entry, exit)
          return loop
        }
      )
    }
    const write = step.chunks.length === 0 ? Effect.void : wire.write(step.chunks, step.trace, "command")
    if (line.flight.length === 0) return write
    return write.pipe(
      Effect.andThen(wire.nextBatch("command")),
      Effect.flatMap((frames) => receive(session, state, line, frames) ?? loop)
    )
  })
  return Effect.catch(loop, (error) => stop(session, line, () => error, error))
}

/**
 * Resumes once the microtasks queued now have run: operations started together (`Effect.all`
 * starts its fibers at once; fibers forked in one scheduler batch run in one task) have queued
 * their commands by then, at a fraction of the cost of a scheduler round (`Effect.yieldNow`).
 */
const afterMicrotasks: Effect.Effect<void> = Effect.callback<void>((resume) => {
  queueMicrotask(() => resume(Effect.void))
})

/** The connection's driver: takes the lock, flies, gives it back; again while commands are queued. */
const driver = (session: State.Session, state: State.State, line: Line): Effect.Effect<void> => {
  const round: Effect.Effect<void> = Effect.andThen(
    session.lock.withPermits(1)(Effect.ensuring(fly(session, state, line), State.flush(session, state))),
    Effect.suspend(() => {
      // Commands still queued waited for an operation that runs alone: it goes first.
      if (line.queue.length > 0) return Effect.andThen(Effect.yieldNow, round)
      line.driving = false
      return Effect.void
    })
  )
  return Effect.andThen(afterMicrotasks, round).pipe(
    Effect.onExit((exit) =>
      Effect.sync(() => {
        if (Exit.isSuccess(exit)) return
        // Not reachable unless the runtime stops the fiber: nothing may wait forever.
        line.driving = false
        const cause: Cause.Cause<Failure> = exit.cause
        for (const entry of [...line.flight.splice(0), ...line.queue.splice(0)]) settle(entry, Exit.failCause(cause))
      })
    )
  )
}

/**
 * Pipelines `request` and returns its tagged OK (NO / BAD fail with `ImapError`). Untagged
 * responses it claims go to `request.claim`.
 */
export const submit = (
  session: State.Session,
  state: State.State,
  request: Request
): Effect.Effect<ImapResponse.Tagged, Failure> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const line = lineOf(state)
      const entry: Entry = { ...request, kind: kindOf(request.command), reply: Deferred.makeUnsafe(), tag: undefined }
      line.queue.push(entry)
      state.wanted?.()
      const awaited = restore(Deferred.await(entry.reply)).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            // Not written yet: it never will be. Written: the driver reads its reply and drops it.
            const i = line.queue.indexOf(entry)
            if (i >= 0) line.queue.splice(i, 1)
          })
        )
      )
      if (line.driving) return awaited
      line.driving = true
      return Effect.andThen(Effect.forkDetach(driver(session, state, line), { startImmediately: true }), awaited)
    })
  )

/** Sends one command through the pipeline (built by `handles.pipelined`). */
export type Send = (
  command: ImapCommand.ImapCommand,
  options: { readonly name: string; readonly onUntagged?: Claim | undefined }
) => Effect.Effect<ImapResponse.Tagged, Failure>

/** The `Send` of an operation that holds the lock itself: each command runs alone (`Command.run`). */
export const alone = (session: State.Session): Send => (command, options) => {
  const claim = options.onUntagged
  return Command.run(session, command, {
    name: options.name,
    onUntagged: claim === undefined ? undefined : (response) => claim(response, [])
  })
}
