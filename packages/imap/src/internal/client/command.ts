/**
 * Runs one tagged IMAP command on a session the caller holds (under its lock): encodes it with the
 * capabilities in force, writes it part by part (a synchronizing literal waits for the server's
 * "+", RFC 9051 §7.6; an APPEND payload is written where the encoder placed it), then reads
 * responses until the command's tagged reply.
 *
 * Untagged responses go to the command's `onUntagged` first, then to `State.absorb`. A tagged reply
 * whose tag is not the command's, a continuation request nobody asked for, or literal stream frames
 * outside FETCH are protocol violations: the connection is closed (it cannot be trusted to be in
 * step any more). A `* BYE` ends the command with `ImapError` `Bye`.
 *
 * @internal
 */
import type * as CodecError from "@starttls/core/CodecError"
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as ImapCapabilities from "../../ImapCapabilities.ts"
import * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import * as State from "./state.ts"

/** What an APPEND writes in place of its literal. */
export type Payload<E> =
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Stream"; readonly stream: Stream.Stream<Uint8Array, E> }

export interface Options<E = never> {
  /** The command's name in errors ("SELECT"). */
  readonly name: string
  /** Claims an untagged response as part of the command's result (return true). */
  readonly onUntagged?: ((response: ImapResponse.Untagged) => boolean) | undefined
  readonly payload?: Payload<E> | undefined
  readonly phase?: MailError.Phase | undefined
}

/** Closes a connection that broke the protocol and returns the failure. */
export const violation = (session: State.Session, phase: MailError.Phase, detail: string) =>
  Effect.andThen(
    Connection.abandon(session),
    Effect.fail(MailError.make(new MailError.ProtocolViolation({ phase, detail })))
  )

/** The error for a tagged NO / BAD. */
export const refusal = (name: string, reply: ImapResponse.Tagged): ImapError.ImapError => {
  const code = reply.code
  if (code !== undefined && code._tag === "REFERRAL") {
    return ImapError.make(new ImapError.Referral({ command: name, url: code.url }))
  }
  const fields = { command: name, code: State.codeName(code), untrustedText: reply.text }
  return ImapError.make(reply.status === "BAD" ? new ImapError.Bad(fields) : new ImapError.No(fields))
}

export const invalid = (name: string, error: CodecError.EncodeError): ImapError.ImapError =>
  ImapError.make(new ImapError.InvalidArgument({ command: name, field: error.field, detail: error.detail }))

/** The capabilities that shape how a command is written (the trusted set, else the plaintext one). */
export const capabilitiesOf = (session: State.Session): ImapCapabilities.ImapCapabilities =>
  session.capabilities ?? session.plaintextCapabilities ?? ImapCapabilities.empty

/** Whether mailbox names are UTF-8 (UTF8=ACCEPT enabled, or an IMAP4rev2-only server), as the encoder decides. */
export const utf8Names = (session: State.Session): boolean =>
  ImapCommand.modeOf({ capabilities: capabilitiesOf(session), utf8: State.of(session).utf8 }).utf8

/**
 * `command` encoded with a fresh tag (put in flight) and the capabilities in force; an argument
 * that cannot be encoded takes the tag back and is `InvalidArgument`.
 */
export const encodeTagged = (
  session: State.Session,
  state: State.State,
  command: ImapCommand.ImapCommand,
  name: string
): Result.Result<{ readonly tag: string; readonly encoded: ImapCommand.EncodedCommand }, ImapError.ImapError> => {
  const tag = State.nextTag(state)
  const encoded = ImapCommand.encode(tag, command, { capabilities: capabilitiesOf(session), utf8: state.utf8 })
  if (Result.isSuccess(encoded)) return Result.succeed({ tag, encoded: encoded.success })
  state.inFlight.delete(tag)
  return Result.fail(invalid(name, encoded.failure))
}

/** The bytes of a command written in one go, or `undefined` when a part is not a line (a literal). */
export const lineBytes = (encoded: ImapCommand.EncodedCommand): Array<Uint8Array> | undefined => {
  const lines: Array<Uint8Array> = []
  for (const part of encoded.parts) {
    if (part._tag !== "Line") return undefined
    lines.push(part.bytes)
  }
  return lines
}

export const notInFlight = (tag: string) =>
  `a tagged reply for a tag not in flight (${JSON.stringify(tag.slice(0, 32))})`

/**
 * One frame read while a command is in flight. `Continue` means keep reading; `Tagged` is the
 * command's completion; `Continuation` a "+" (the caller decides whether it was expected).
 */
export type Classified =
  | { readonly _tag: "Continue" }
  | { readonly _tag: "Tagged"; readonly reply: ImapResponse.Tagged }
  | { readonly _tag: "Continuation" }
  | { readonly _tag: "Violation"; readonly detail: string }
  | { readonly _tag: "Bye"; readonly text: string }

const CONTINUE: Classified = { _tag: "Continue" }
const CONTINUATION: Classified = { _tag: "Continuation" }

export const classify = (
  state: State.State,
  tag: string,
  frame: ImapResponse.Frame,
  onUntagged: ((response: ImapResponse.Untagged) => boolean) | undefined
): Classified => {
  switch (frame._tag) {
    case "Tagged":
      if (frame.tag !== tag) return { _tag: "Violation", detail: notInFlight(frame.tag) }
      state.inFlight.delete(tag)
      State.alert(state, frame.code, frame.text)
      return { _tag: "Tagged", reply: frame }
    case "Continuation":
      State.alert(state, frame.code, frame.text)
      return CONTINUATION
    case "LiteralStart":
    case "LiteralChunk":
      return { _tag: "Violation", detail: "unexpected literal data outside FETCH" }
    case "Condition":
      if (frame.status === "BYE") {
        State.absorb(state, frame)
        return { _tag: "Bye", text: frame.text }
      }
      if (onUntagged === undefined || !onUntagged(frame)) State.absorb(state, frame)
      return CONTINUE
    default:
      if (onUntagged === undefined || !onUntagged(frame)) State.absorb(state, frame)
      return CONTINUE
  }
}

const bye = (name: string, text: string) => Effect.fail(ImapError.make(new ImapError.Bye({ command: name, untrustedText: text })))

/** Reads until the command's tagged reply (or, with `continuation`, until a "+"). */
const await_ = <E>(
  session: State.Session,
  state: State.State,
  tag: string,
  options: Options<E>,
  continuation: boolean
): Effect.Effect<ImapResponse.Tagged | undefined, ImapError.ImapError | MailError.MailError> => {
  const phase = options.phase ?? "command"
  const loop: Effect.Effect<ImapResponse.Tagged | undefined, ImapError.ImapError | MailError.MailError> = Effect
    .flatMap(session.wire.next(phase), (frame) => {
      const c = classify(state, tag, frame, options.onUntagged)
      switch (c._tag) {
        case "Continue":
          return loop
        case "Continuation":
          return continuation ? Effect.succeed(undefined) : violation(session, phase, "unexpected continuation request")
        case "Tagged":
          return c.reply.status === "OK" ? Effect.succeed(c.reply) : Effect.fail(refusal(options.name, c.reply))
        case "Violation":
          return violation(session, phase, c.detail)
        case "Bye":
          return options.name === "LOGOUT" ? loop : bye(options.name, c.text)
      }
    })
  return loop
}

const writePayload = <E>(
  session: State.Session,
  name: string,
  payload: Payload<E> | undefined,
  size: number
): Effect.Effect<void, ImapError.ImapError | MailError.MailError | E> => {
  const wire = session.wire
  const mismatch = (actual: number) =>
    Effect.andThen(
      wire.destroy,
      Effect.fail(ImapError.make(new ImapError.SizeMismatch({ command: name, announced: size, actual })))
    )
  if (payload === undefined) return mismatch(0)
  if (payload._tag === "Bytes") {
    return payload.bytes.length === size ? wire.write([payload.bytes], [], "data") : mismatch(payload.bytes.length)
  }
  let written = 0
  return Stream.runForEach(payload.stream, (chunk): Effect.Effect<void, ImapError.ImapError | MailError.MailError> => {
    written += chunk.length
    return written > size ? mismatch(written) : wire.write([chunk], [], "data")
  }).pipe(
    // A literal cut short cannot be finished: the connection is unusable.
    Effect.onError(() => wire.destroy),
    Effect.andThen(Effect.suspend(() => (written === size ? Effect.void : mismatch(written))))
  )
}

/**
 * Runs `command` and returns its tagged OK (NO / BAD fail with `ImapError`).
 */
export const run = <E = never>(
  session: State.Session,
  command: ImapCommand.ImapCommand,
  options: Options<E>
): Effect.Effect<ImapResponse.Tagged, ImapError.ImapError | MailError.MailError | E> =>
  Effect.gen(function*() {
    const state = State.of(session)
    const tagged = encodeTagged(session, state, command, options.name)
    if (Result.isFailure(tagged)) return yield* tagged.failure
    const { encoded, tag } = tagged.success
    const wire = session.wire
    const phase = options.phase ?? "command"
    let pending: Array<Uint8Array> = []
    let trace: ReadonlyArray<string> = [encoded.redacted]
    const flush = Effect.suspend(() => {
      const chunks = pending
      const lines = trace
      pending = []
      trace = []
      return chunks.length === 0 ? Effect.void : wire.write(chunks, lines, phase)
    })
    for (const part of encoded.parts) {
      if (part._tag === "Line") {
        pending.push(part.bytes)
      } else if (part._tag === "AwaitContinuation") {
        yield* flush
        const refused = yield* await_(session, state, tag, options, true)
        if (refused !== undefined) return refused
      } else if (options.payload?._tag === "Bytes" && options.payload.bytes.length === part.size) {
        // A payload at hand goes out in the same write as the command (one flush, one segment).
        pending.push(options.payload.bytes)
      } else {
        yield* flush
        yield* writePayload(session, options.name, options.payload, part.size)
      }
    }
    yield* flush
    const reply = yield* await_(session, state, tag, options, false)
    // `await_` only returns undefined when waiting for a continuation.
    return reply ?? (yield* violation(session, phase, "no tagged reply"))
  })
