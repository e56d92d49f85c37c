/**
 * Commands in flight on one POP3 session: the machinery behind every client operation.
 *
 * A flight is a list of encoded commands, written in windows (all at once when the server
 * advertised PIPELINING, RFC 2449 §6.6, else one at a time) and answered in order. The parser's
 * expectation numbers tie every frame to its command: a frame for any other command is a protocol
 * violation. Collected bodies (RETR/TOP answers gathered into one buffer) are bounded by the
 * session's `maxLiteralSize`.
 *
 * The caller holds the session lock for the whole flight and, if it stops early (failure,
 * interruption, a consumer that stops reading), calls `drain`: the answers of the commands already
 * sent are read and dropped, so the next operation starts on a clean wire. Commands not yet sent are
 * never sent.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as Dialect from "@starttls/core/Dialect"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import { Buffer } from "node:buffer"
import type * as Pop3Capabilities from "../Pop3Capabilities.ts"
import * as Pop3Command from "../Pop3Command.ts"
import type * as Pop3Dialect from "../Pop3Dialect.ts"
import * as Pop3Error from "../Pop3Error.ts"
import type * as Pop3Response from "../Pop3Response.ts"

/** A command with its wire form. */
export interface Encoded<C extends Pop3Command.Pop3Command = Pop3Command.Pop3Command> {
  readonly command: C
  readonly bytes: Uint8Array
  readonly redacted: string
}

/** The complete answer to one command. */
export interface Answer<C extends Pop3Command.Pop3Command = Pop3Command.Pop3Command> {
  readonly command: C
  readonly status: Pop3Response.StatusLine
  /** The lines of a multi-line answer (LIST, UIDL), after `+OK`. */
  readonly lines: ReadonlyArray<string> | undefined
  /** The body of a RETR / TOP answer, after `+OK`. */
  readonly body: Uint8Array | undefined
}

/** The keyword of a command, for errors. */
export const keyword = (command: Pop3Command.Pop3Command): string => {
  switch (command._tag) {
    case "AuthContinue":
    case "AuthCancel":
      return "AUTH"
    default:
      return command._tag.toUpperCase()
  }
}

const msgOf = (command: Pop3Command.Pop3Command): number | undefined =>
  "msg" in command && typeof command.msg === "number" ? command.msg : undefined

/** Encodes every command before anything is written: an invalid argument writes nothing. */
export const encodeAll = <C extends Pop3Command.Pop3Command>(
  commands: ReadonlyArray<C>
): Effect.Effect<ReadonlyArray<Encoded<C>>, Pop3Error.Pop3Error> =>
  Effect.suspend(() => {
    const out: Array<Encoded<C>> = []
    for (const command of commands) {
      const result = Pop3Command.encodeWithRedaction(command)
      if (result._tag === "Failure") {
        return Effect.fail(Pop3Error.make(
          new Pop3Error.InvalidArgument({ field: `${keyword(command)} ${result.failure.field}`, detail: result.failure.detail })
        ))
      }
      out.push({ command, bytes: result.success.bytes, redacted: result.success.redacted })
    }
    return Effect.succeed(out)
  })

/** The `Refused` reason of a `-ERR` answer. */
export const refusal = (command: Pop3Command.Pop3Command, status: Pop3Response.StatusLine): Pop3Error.Refused => {
  const msg = msgOf(command)
  const code = status.code === undefined ? undefined : status.code.tokens.join("/")
  return new Pop3Error.Refused({
    command: keyword(command),
    untrustedText: status.text,
    ...(msg === undefined ? {} : { msg }),
    ...(code === undefined ? {} : { code })
  })
}

/** The `Pop3Error` of a `-ERR` answer. */
export const refused = (command: Pop3Command.Pop3Command, status: Pop3Response.StatusLine): Pop3Error.Pop3Error =>
  Pop3Error.make(refusal(command, status))

export const violation = (phase: MailError.Phase, detail: string): MailError.MailError =>
  MailError.make(new MailError.ProtocolViolation({ phase, detail }))

/** The client state of a session of `Pop3Dialect.dialect` (a violation for any other session). */
export const stateOf = (
  session: Pop3Dialect.Session,
  state: (session: Pop3Dialect.Session) => Pop3Dialect.State | undefined
): Effect.Effect<Pop3Dialect.State, MailError.MailError> => {
  const found = state(session)
  return found === undefined
    ? Effect.fail(violation("command", "the connection was not opened with the POP3 dialect"))
    : Effect.succeed(found)
}

/** Queues the commands' expectations and writes them in one flush. */
export const send = (
  session: Pop3Dialect.Session,
  state: Pop3Dialect.State,
  commands: ReadonlyArray<Encoded<Pop3Command.Pop3Command>>,
  phase: MailError.Phase = "command"
): Effect.Effect<ReadonlyArray<number>, MailError.MailError> =>
  Effect.suspend(() => {
    const parser = state.parser()
    // RFC 1939 §3: the server only answers. Bytes received while nothing was in flight would be
    // taken for the answer to this command: refuse them instead (ATTACKS.md §3.6 invariant 5).
    if (parser.inFlight() === 0 && session.wire.pending() > 0) {
      return Effect.fail(violation(phase, `${session.wire.pending()} byte(s) arrived while no command was in flight`))
    }
    const numbers = commands.map((c) => parser.expect(Pop3Command.expectation(c.command)))
    return Effect.as(
      session.wire.write(commands.map((c) => c.bytes), commands.map((c) => c.redacted), phase),
      numbers
    )
  })

/** Reads the status line that answers the command sent last (nothing else may be in flight). */
export const readStatus = (
  session: Pop3Dialect.Session,
  phase: MailError.Phase
): Effect.Effect<Pop3Response.StatusLine, MailError.MailError> =>
  Connection.readUntil(session, phase, (frame) =>
    frame._tag === "Status"
      ? Dialect.done(frame.status)
      : Dialect.fail(new MailError.ProtocolViolation({ phase, detail: `expected a status line, got ${frame._tag}` })))

/** Writes one command and reads its status line. */
export const single = (
  session: Pop3Dialect.Session,
  state: Pop3Dialect.State,
  command: Encoded,
  phase: MailError.Phase = "command"
): Effect.Effect<Pop3Response.StatusLine, MailError.MailError> =>
  Effect.andThen(send(session, state, [command], phase), readStatus(session, phase))

/** Commands kept in flight at once: PIPELINING lets many go out together. */
export const windowFor = (capabilities: Pop3Capabilities.Pop3Capabilities | undefined, window: number): number =>
  capabilities?.pipelining === true ? Math.max(1, Math.floor(window)) : 1

interface Pending<C extends Pop3Command.Pop3Command> {
  readonly command: C
  readonly expectation: number
  status: Pop3Response.StatusLine | undefined
  lines: ReadonlyArray<string> | undefined
  chunks: Array<Uint8Array>
  size: number
}

/** A flight: `pull` returns the next completed answers (possibly none); `done` when all are in. */
export interface Flight<C extends Pop3Command.Pop3Command = Pop3Command.Pop3Command> {
  readonly pull: Effect.Effect<ReadonlyArray<Answer<C>>, MailError.MailError>
  readonly done: () => boolean
  /** Reads and drops the answers of every command already sent. */
  readonly drain: Effect.Effect<void>
}

/**
 * Starts a flight. `onAnswer` sees each answer as it completes (marks DELE, clears on RSET).
 */
export const make = <C extends Pop3Command.Pop3Command>(
  session: Pop3Dialect.Session,
  state: Pop3Dialect.State,
  commands: ReadonlyArray<Encoded<C>>,
  window: number,
  onAnswer: (answer: Answer<C>) => void
): Flight<C> => {
  const maxBody = session.limits.maxLiteralSize
  const inFlight: Array<Pending<C>> = []
  let head = 0
  let next = 0
  let collecting = true

  const refill = Effect.suspend(() => {
    const pending = inFlight.length - head
    // Refill when half the window is answered: few writes, the pipe never runs dry.
    if (next >= commands.length || (pending > 0 && pending > window / 2)) return Effect.void
    const batch = commands.slice(next, next + window - pending)
    next += batch.length
    return Effect.map(send(session, state, batch, "data"), (numbers) => {
      batch.forEach((c, i) => {
        inFlight.push({
          command: c.command,
          expectation: numbers[i]!,
          status: undefined,
          lines: undefined,
          chunks: [],
          size: 0
        })
      })
    })
  })

  const complete = (pending: Pending<C>, out: Array<Answer<C>>) => {
    head += 1
    if (head === inFlight.length) {
      inFlight.length = 0
      head = 0
    }
    const status = pending.status!
    const streamed = status._tag === "Ok" && Pop3Command.expectation(pending.command) === "multiStream"
    const answer: Answer<C> = {
      command: pending.command,
      status,
      lines: pending.lines,
      body: streamed ? Buffer.concat(pending.chunks) : undefined
    }
    onAnswer(answer)
    out.push(answer)
  }

  const onFrame = (frame: Pop3Response.Frame, out: Array<Answer<C>>): MailError.MailError | undefined => {
    const pending = inFlight[head]
    if (pending === undefined || frame.expectation !== pending.expectation) {
      return violation("data", `an answer arrived for no command in flight (${frame._tag})`)
    }
    switch (frame._tag) {
      case "Status": {
        pending.status = frame.status
        const kind = frame.kind
        if (frame.status._tag === "Err" || kind === "single") complete(pending, out)
        return undefined
      }
      case "Lines":
        pending.lines = frame.lines
        complete(pending, out)
        return undefined
      case "BodyChunk":
        pending.size += frame.bytes.length
        if (collecting) {
          if (pending.size > maxBody) {
            return MailError.make(new MailError.LimitExceeded({ limit: "maxLiteralSize", max: maxBody, actual: pending.size }))
          }
          pending.chunks.push(frame.bytes)
        }
        return undefined
      case "BodyEnd":
        complete(pending, out)
        return undefined
      case "Continuation":
        return violation("data", "a SASL continuation arrived outside AUTH")
    }
  }

  const done = () => next >= commands.length && head === inFlight.length

  const pull: Effect.Effect<ReadonlyArray<Answer<C>>, MailError.MailError> = Effect.suspend(() => {
    if (done()) return Effect.succeed([])
    return refill.pipe(
      Effect.andThen(session.wire.nextBatch("data")),
      Effect.flatMap((frames) => {
        const out: Array<Answer<C>> = []
        for (const frame of frames) {
          const error = onFrame(frame, out)
          if (error !== undefined) return Effect.fail(error)
        }
        return Effect.succeed(out)
      })
    )
  })

  const drain: Effect.Effect<void> = Effect.suspend(() => {
    collecting = false
    next = commands.length
    const loop: Effect.Effect<void, MailError.MailError> = Effect.suspend(() =>
      head === inFlight.length ? Effect.void : Effect.flatMap(pull, () => loop)
    )
    // A wire that cannot be brought back in step is closed: no later answer is misread (fail closed).
    return Effect.catch(loop, () => session.wire.destroy)
  })

  return { pull, done, drain }
}

/** Runs a flight to the end and returns every answer, in order. */
export const run = <C extends Pop3Command.Pop3Command>(
  flight: Flight<C>
): Effect.Effect<ReadonlyArray<Answer<C>>, MailError.MailError> =>
  Effect.suspend(() => {
    const answers: Array<Answer<C>> = []
    const loop: Effect.Effect<ReadonlyArray<Answer<C>>, MailError.MailError> = Effect.suspend(() =>
      flight.done()
        ? Effect.succeed(answers)
        : Effect.flatMap(flight.pull, (batch) => {
          for (const answer of batch) answers.push(answer)
          return loop
        })
    )
    return Effect.onError(loop, () => flight.drain)
  })
