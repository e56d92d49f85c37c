/**
 * FETCH as streams (RFC 9051 §6.4.5, §7.5.2). The stream holds the connection's lock from its
 * first pull until the command's tagged reply; a consumer that stops early makes the stream read
 * (and drop) the rest of the reply before the lock is released, so the connection stays in step.
 *
 * Responses are read a received chunk at a time (`Wire.nextBatch`), and every message completed
 * by a chunk goes downstream in one array. Literals the parser streamed (larger than the dialect's
 * `streamLiteralsAbove`) are assembled for `messages` (bounded by `maxLiteralSize`) and passed
 * through untouched by `bytes`, which therefore runs at constant memory whatever the size.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Wire from "@starttls/core/Wire"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Result from "effect/Result"
import * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import * as SequenceSet from "../../SequenceSet.ts"
import * as Command from "./command.ts"
import * as Pipeline from "./pipeline.ts"
import * as State from "./state.ts"

/** What a FETCH stream needs from the caller: a current session with the mailbox selected. */
export type Acquire = Effect.Effect<
  { readonly session: State.Session; readonly selection: State.Selection },
  MailError.MailError,
  Scope.Scope
>

/**
 * Takes the lock for the stream's lifetime (alone: pipelined commands finish first, see
 * `pipeline.ts`), then checks the handle (`check`) under it.
 */
export const acquire = (
  lockOf: State.Session,
  check: Effect.Effect<State.Selection, MailError.MailError>
): Acquire =>
  Pipeline.exclusive(lockOf, (acquired) =>
    Effect.andThen(
      Semaphore.takeScoped(lockOf.lock, 1),
      Effect.andThen(acquired, Effect.map(check, (selection) => ({ session: lockOf, selection })))
    ))

type Frames = ReadonlyArray<ImapResponse.Frame>

/** How one FETCH consumes its frames: returns what to emit for a batch. */
interface Consumer<A> {
  readonly frame: (
    frame: Exclude<ImapResponse.Frame, ImapResponse.Tagged | ImapResponse.Continuation | ImapResponse.Condition>,
    out: Array<A>
  ) => MailError.MailError | undefined
  /** At the tagged OK: a failure when the reply did not give what was asked for. */
  readonly end?: (() => ImapError.ImapError | undefined) | undefined
}

type Failure = ImapError.ImapError | MailError.MailError

/** The next non-empty batch of a FETCH's output, or `Cause.Done` after its tagged reply. */
type Pull<A> = Effect.Effect<Arr.NonEmptyReadonlyArray<A>, Failure | Cause.Done>

/**
 * The common engine: writes the FETCH and returns the pull of its output (batches until the
 * tagged reply); the scope's finalizer drains an unfinished reply (or closes the connection when
 * that fails).
 */
const open = <A>(
  acquired: Acquire,
  command: ImapCommand.Fetch,
  consumer: (session: State.Session, state: State.State, selection: State.Selection) => Consumer<A>,
  lend: boolean
): Effect.Effect<Pull<A>, Failure, Scope.Scope> =>
  Effect.gen(function*() {
    const { selection, session } = yield* acquired
    // Lent output (`bytes` for `downloadEach`): what one pull emitted is released at the next.
    if (lend) yield* session.wire.lend
    const state = State.of(session)
    const tagged = Command.encodeTagged(session, state, command, "FETCH")
    if (Result.isFailure(tagged)) return yield* tagged.failure
    const { encoded, tag } = tagged.success
    const lines = Command.lineBytes(encoded)
    if (lines === undefined) {
      // Only header field names longer than a quoted string could need a literal.
      state.inFlight.delete(tag)
      return yield* ImapError.make(
        new ImapError.InvalidArgument({ command: "FETCH", field: "items", detail: "an argument would need a literal" })
      )
    }
    yield* session.wire.write(lines, [encoded.redacted])
    const nextBatch = lend ? Effect.andThen(session.wire.recycle, session.wire.nextBatch("command")) : session.wire.nextBatch("command")
    const handler = consumer(session, state, selection)
    let done = false
    let failure: ImapError.ImapError | MailError.MailError | undefined

    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        done ? Effect.void : drain(session, state, tag),
        State.flush(session, state)
      )
    )

    const step = (frames: Frames, out: Array<A>): void => {
      for (let i = 0; i < frames.length && failure === undefined && !done; i++) {
        const frame = frames[i]!
        if (frame._tag === "Tagged" || frame._tag === "Continuation" || frame._tag === "Condition") {
          const c = Command.classify(state, tag, frame, undefined)
          switch (c._tag) {
            case "Tagged":
              done = true
              failure = c.reply.status !== "OK" ? Command.refusal("FETCH", c.reply) : handler.end?.()
              break
            case "Bye":
              done = true
              failure = Command.refusal("FETCH", { _tag: "Tagged", tag, status: "NO", text: c.text })
              break
            case "Continuation":
              failure = unusable(session, violation("unexpected continuation request"))
              break
            case "Violation":
              failure = unusable(session, violation(c.detail))
              break
            case "Continue":
              break
          }
          continue
        }
        const error = handler.frame(frame, out)
        // The reply cannot be read on (a literal refused half-way): the connection is closed.
        if (error !== undefined) failure = unusable(session, error)
      }
    }

    // Built once per FETCH, not per read.
    const onFrames = (frames: Frames): Pull<A> => {
      const out: Array<A> = []
      step(frames, out)
      const result = Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : pull
      return state.events.length > 0 || state.notices.length > 0
        ? Effect.andThen(State.flush(session, state), result)
        : result
    }
    const read: Pull<A> = Effect.flatMap(nextBatch, onFrames)
    const pull: Pull<A> = Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      if (done) return Cause.done()
      return read
    })
    return pull
  })

/** A FETCH's output as a `Stream` (never lent: a Stream's consumer may keep what it gets). */
const run = <A>(
  acquired: Acquire,
  command: ImapCommand.Fetch,
  consumer: (session: State.Session, state: State.State, selection: State.Selection) => Consumer<A>
): Stream.Stream<A, Failure> =>
  Stream.unwrap(Effect.map(open(acquired, command, consumer, false), (pull) => Stream.fromPull(Effect.succeed(pull))))

const violation = (detail: string): MailError.MailError =>
  MailError.make(new MailError.ProtocolViolation({ phase: "command", detail }))

/** Marks the session closed (every handle stale); the stream's finalizer then destroys the wire. */
const unusable = (session: State.Session, error: MailError.MailError): MailError.MailError => {
  session.state = "Closed"
  session.generation += 1
  return error
}

/** Reads and drops the rest of an abandoned FETCH reply; closes the connection if that fails. */
const drain = (session: State.Session, state: State.State, tag: string): Effect.Effect<void> => {
  if (session.state === "Closed") return session.wire.destroy
  // (`recycle` releases what the previous batch lent, when the stream lends; a no-op otherwise.)
  const next = Effect.andThen(session.wire.recycle, session.wire.nextBatch("command"))
  const loop: Effect.Effect<void, MailError.MailError> = Effect.flatMap(next, (frames) => {
    for (const frame of frames) {
      if (frame._tag === "Tagged") {
        if (frame.tag !== tag) return Effect.fail(violation(Command.notInFlight(frame.tag)))
        state.inFlight.delete(tag)
        return Effect.void
      }
    }
    return loop
  })
  return loop.pipe(
    Effect.catch(() => Connection.abandon(session))
  )
}

// -----------------------------------------------------------------------------
// Messages
// -----------------------------------------------------------------------------

/** A message of a FETCH (see `ImapClient.FetchedMessage`). */
export interface Message {
  readonly seq: number
  readonly uid: number | undefined
  readonly flags: ReadonlyArray<string> | undefined
  readonly internalDate: string | undefined
  readonly size: number | undefined
  readonly envelope: ImapResponse.Envelope | undefined
  readonly bodyStructure: ImapResponse.BodyStructure | undefined
  readonly modseq: bigint | undefined
  readonly source: Uint8Array | undefined
  readonly headers: Uint8Array | undefined
  readonly attributes: ImapResponse.FetchAttributes
}

/** A literal the parser streamed, assembled for the FETCH response that follows it. */
export interface Assembling {
  readonly item: "BODY" | "BINARY"
  readonly section: string
  readonly origin: number | undefined
  readonly bytes: Uint8Array
  fill: number
}

const limit = (max: number, actual: number) =>
  MailError.make(new MailError.LimitExceeded({ limit: "maxLiteralSize", max, actual }))

/** Starts assembling a streamed literal, at most `maxLiteralSize` (else the limit's error). */
export const assemble = (
  session: State.Session,
  frame: ImapResponse.LiteralStart
): Result.Result<Assembling, MailError.MailError> => {
  const max = session.limits.maxLiteralSize
  if (frame.size > max) return Result.fail(limit(max, frame.size))
  return Result.succeed({
    item: frame.item,
    section: frame.section,
    origin: frame.origin,
    bytes: new Uint8Array(frame.size),
    fill: 0
  })
}

/** Appends a streamed literal's chunk to the literal being assembled. */
export const addChunk = (current: Assembling | undefined, frame: ImapResponse.LiteralChunk): void => {
  if (current === undefined) return
  current.bytes.set(frame.bytes, current.fill)
  current.fill += frame.bytes.length
}

/** Puts assembled bytes in place of the sections the parser streamed. */
const fillStreamed = (
  sections: ReadonlyArray<ImapResponse.BodySection> | undefined,
  item: "BODY" | "BINARY",
  assembled: ReadonlyArray<Assembling>
): ReadonlyArray<ImapResponse.BodySection> | undefined => {
  if (sections === undefined || !sections.some((s) => s.streamed === true)) return sections
  return sections.map((s) => {
    if (s.streamed !== true) return s
    const hit = assembled.find((a) => a.item === item && a.section === s.section && a.origin === s.origin)
    if (hit === undefined) return s
    return s.origin === undefined ? { section: s.section, bytes: hit.bytes } : { section: s.section, origin: s.origin, bytes: hit.bytes }
  })
}

const sectionBytes = (
  sections: ReadonlyArray<ImapResponse.BodySection> | undefined,
  match: (section: string) => boolean
): Uint8Array | undefined => {
  if (sections === undefined) return undefined
  for (const s of sections) if (match(s.section) && s.bytes !== null) return s.bytes
  return undefined
}

const isHeader = (section: string) => section.toUpperCase().startsWith("HEADER")

export const message = (response: ImapResponse.Fetch, assembled: ReadonlyArray<Assembling>): Message => {
  let a = response.attributes
  if (assembled.length > 0) {
    a = {
      ...a,
      bodySections: fillStreamed(a.bodySections, "BODY", assembled),
      binarySections: fillStreamed(a.binarySections, "BINARY", assembled)
    }
  }
  return {
    seq: response.seq,
    uid: a.uid,
    flags: a.flags,
    internalDate: a.internalDate,
    size: a.rfc822Size,
    envelope: a.envelope,
    bodyStructure: a.bodyStructure,
    modseq: a.modseq,
    source: sectionBytes(a.bodySections, (s) => s === "") ?? a.rfc822 ?? undefined,
    headers: sectionBytes(a.bodySections, isHeader) ?? a.rfc822Header ?? undefined,
    attributes: a
  }
}

/** The attributes a FETCH item makes the server send (UID aside). */
const attributeOf = (item: ImapCommand.FetchItem): keyof ImapResponse.FetchAttributes | undefined => {
  if (typeof item !== "string") {
    return item._tag === "BodySection" ? "bodySections" : item._tag === "BinarySection" ? "binarySections" : "binarySizes"
  }
  switch (item) {
    case "UID":
      return undefined
    case "FLAGS":
      return "flags"
    case "INTERNALDATE":
      return "internalDate"
    case "RFC822.SIZE":
      return "rfc822Size"
    case "ENVELOPE":
      return "envelope"
    case "BODYSTRUCTURE":
    case "BODY":
      return "bodyStructure"
    case "MODSEQ":
      return "modseq"
    case "RFC822":
      return "rfc822"
    case "RFC822.HEADER":
      return "rfc822Header"
    case "RFC822.TEXT":
      return "rfc822Text"
    case "EMAILID":
      return "emailId"
    case "THREADID":
      return "threadId"
  }
}

/**
 * Whether a FETCH response answers our command: its message is in the set, and it carries one of
 * the attributes asked for (an unsolicited FETCH, RFC 9051 §7.5.2, carries FLAGS only: when more
 * was asked for, it is told apart by that).
 */
export const answers = (command: ImapCommand.Fetch) => {
  const wanted = new Set<keyof ImapResponse.FetchAttributes>()
  for (const item of command.items) {
    const attribute = attributeOf(item)
    if (attribute !== undefined) wanted.add(attribute)
  }
  if (wanted.size > 1) wanted.delete("flags")
  const carries = (a: ImapResponse.FetchAttributes): boolean => {
    if (wanted.size === 0) return true
    for (const key of wanted) if (a[key] !== undefined) return true
    return false
  }
  return (selection: State.Selection, response: ImapResponse.Fetch): boolean => {
    if (!carries(response.attributes)) return false
    if (command.uid) {
      const uid = response.attributes.uid
      return uid !== undefined && SequenceSet.has(command.set, uid, uid)
    }
    return SequenceSet.has(command.set, response.seq, Math.max(selection.view.status.exists, response.seq))
  }
}

/** FETCH: one `Message` per message. */
export const messages = (
  acquired: Acquire,
  command: ImapCommand.Fetch
): Stream.Stream<Message, ImapError.ImapError | MailError.MailError> =>
  run(acquired, command, (session, state, selection) => {
    const belongs = answers(command)
    let assembled: Array<Assembling> = []
    let current: Assembling | undefined
    return {
      frame: (frame, out) => {
        switch (frame._tag) {
          case "LiteralStart": {
            const started = assemble(session, frame)
            if (Result.isFailure(started)) return started.failure
            current = started.success
            assembled.push(started.success)
            return undefined
          }
          case "LiteralChunk":
            addChunk(current, frame)
            return undefined
          case "Fetch": {
            const ours = belongs(selection, frame)
            State.fetched(selection, state, frame, !ours)
            if (ours) out.push(message(frame, assembled))
            assembled = []
            current = undefined
            return undefined
          }
          default:
            State.absorb(state, frame)
            return undefined
        }
      }
    }
  })

/**
 * FETCH of one section of one message: its bytes as they arrive. A reply without the section
 * (no such message, or `NIL` for one expunged meanwhile) fails with `NotFound`.
 */
export const bytes = (
  acquired: Acquire,
  command: ImapCommand.Fetch
): Stream.Stream<Uint8Array, ImapError.ImapError | MailError.MailError> => run(acquired, command, bytesConsumer(command))

/**
 * `bytes` with lent chunks (`ImapClient.downloadEach`): `f` on each chunk, whose memory is
 * released (`Wire.recycle`) once `f` is done with it and the rest of its read.
 */
export const bytesEach = <E, R>(
  acquired: Acquire,
  command: ImapCommand.Fetch,
  f: (chunk: Uint8Array) => Effect.Effect<void, E, R>
): Effect.Effect<void, Failure | E, Exclude<R, Scope.Scope>> =>
  Effect.scoped(Effect.flatMap(open(acquired, command, bytesConsumer(command), true), (pull) => Wire.forEachLent(pull, f)))

const bytesConsumer = (command: ImapCommand.Fetch) =>
(_session: State.Session, state: State.State, selection: State.Selection): Consumer<Uint8Array> => {
    const belongs = answers(command)
    let streaming = false
    let seen = false
    let delivered = false
    return {
      end: () =>
        delivered ? undefined : ImapError.make(
          new ImapError.NotFound({
            command: command.uid ? "UID FETCH" : "FETCH",
            what: `message ${command.uid ? "UID " : ""}${SequenceSet.format(command.set)}`
          })
        ),
      frame: (frame, out) => {
        switch (frame._tag) {
          case "LiteralStart":
            streaming = !seen
            delivered ||= streaming
            seen = true
            return undefined
          case "LiteralChunk":
            if (streaming && frame.bytes.length > 0) out.push(frame.bytes)
            return undefined
          case "Fetch": {
            streaming = false
            const solicited = belongs(selection, frame)
            const ours = !seen && solicited
            State.fetched(selection, state, frame, !solicited)
            if (ours) {
              const section = frame.attributes.bodySections?.[0] ?? frame.attributes.binarySections?.[0]
              if (section !== undefined) {
                seen = true
                delivered ||= section.bytes !== null || section.streamed === true
                if (section.bytes !== null && section.bytes.length > 0) out.push(section.bytes)
              }
            }
            return undefined
          }
          default:
            State.absorb(state, frame)
            return undefined
        }
      }
    }
  }
