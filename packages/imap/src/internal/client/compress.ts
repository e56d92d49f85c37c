/**
 * COMPRESS=DEFLATE (RFC 4978) for the IMAP client: the capability check, the COMPRESS command as
 * a core `Dialect.Command`, and the switch through core's `Compression.compress`, which runs the
 * exchange under the session lock in `Wire.exact` and starts raw DEFLATE at the byte after the
 * tagged OK (RFC 4978 §3), both ways.
 *
 * Rules:
 * - only in the Authenticated (or Selected) state (the handle types, and core at run time), only
 *   over TLS unless `allowWithoutTls` (core, which then emits a `SecurityEvents` `Downgrade`
 *   warning), only when COMPRESS=DEFLATE is advertised over TLS / after
 *   authentication (`MissingCapability`, nothing written);
 * - a barrier: nothing else may be in flight (RFC 4978 §3: the client must not send a command
 *   after COMPRESS before its reply, and a reply to an earlier command read after the switch would
 *   be read through the inflater). The whole operation runs as the pipeline's `exclusive` (the
 *   pipeline writes nothing new from the moment it starts until it ends) and the exchange under
 *   the session lock, which the pipeline holds while anything is in flight: COMPRESS is written on
 *   a quiet connection and nothing follows it before the switch. A tagged reply for another tag
 *   while COMPRESS waits is a `ProtocolViolation` that closes the connection;
 * - the tagged `NO` / `BAD` is `CompressionRejected` (`code` "NO", "BAD", or e.g. "NO
 *   COMPRESSIONACTIVE" when the server says compression is already on, RFC 4978 §3, text untrusted):
 *   the connection carries on uncompressed.
 *
 * @internal
 */
import * as Compression from "@starttls/core/Compression"
import * as Connection from "@starttls/core/Connection"
import * as Dialect from "@starttls/core/Dialect"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { CompressOptions, ImapConnection } from "../../ImapClient.ts"
import * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import * as Command from "./command.ts"
import * as Pipeline from "./pipeline.ts"
import * as State from "./state.ts"

type Authenticated = ImapConnection<"Authenticated">

const COMPRESS: ImapCommand.Compress = { _tag: "Compress", mechanism: "DEFLATE" }

const violation = (detail: string): Dialect.Step<never> =>
  Dialect.fail(new MailError.ProtocolViolation({ phase: "command", detail }))

/** How the reply to COMPRESS reads: the tagged OK switches, a NO / BAD is a refusal. */
const onFrame = (state: State.State, tag: string) => (frame: ImapResponse.Frame): Dialect.Step<void> => {
  const c = Command.classify(state, tag, frame, undefined)
  switch (c._tag) {
    case "Continue":
    // A BYE was absorbed (its text is kept); the server closes and the read fails.
    case "Bye":
      return Dialect.Continue
    case "Continuation":
      return violation("unexpected continuation request")
    case "Violation":
      return violation(c.detail)
    case "Tagged": {
      const reply = c.reply
      if (reply.status === "OK") return Dialect.done(undefined)
      const name = State.codeName(reply.code)
      return Dialect.fail(
        new MailError.CompressionRejected({
          protocol: "IMAP",
          code: name === undefined ? reply.status : `${reply.status} ${name}`,
          untrustedReply: reply.text
        })
      )
    }
  }
}

/** The COMPRESS DEFLATE command with a fresh tag (in flight until its tagged reply). */
const command = (
  session: State.Session,
  state: State.State
): Result.Result<{ readonly tag: string; readonly command: Dialect.Command<ImapResponse.Frame, void> }, ImapError.ImapError> =>
  Result.map(Command.encodeTagged(session, state, COMPRESS, "COMPRESS"), ({ encoded, tag }) => ({
    tag,
    // COMPRESS DEFLATE has no string argument: one line.
    command: {
      bytes: Command.lineBytes(encoded) ?? [],
      trace: [encoded.redacted],
      phase: "command",
      onFrame: onFrame(state, tag)
    }
  }))

const missing = ImapError.missingCapability("COMPRESS", "COMPRESS=DEFLATE")

/**
 * Starts COMPRESS=DEFLATE on an authenticated connection (see the module header for the rules).
 * On success every later byte is compressed both ways; on a refusal the connection carries on.
 */
export const compress = (
  connection: Authenticated,
  options?: CompressOptions
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  // Held until the end (the pipeline's `acquired` is not called early): pipelined commands issued
  // meanwhile wait for the switch and are written compressed.
  Pipeline.exclusive(connection.session, () => compressAlone(connection, options))

const compressAlone = (
  connection: Authenticated,
  options: CompressOptions | undefined
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Effect.gen(function*() {
    const session = yield* Connection.check(connection)
    const state = State.of(session)
    const withoutTls = session.wire.tls() === undefined
    // Core refuses plaintext (without the option) and a second COMPRESS before writing anything:
    // the capabilities are only looked at when the command may be sent.
    const allowed = !Compression.isActive(connection) && (!withoutTls || options?.allowWithoutTls === true)
    if (allowed) {
      const caps = yield* Connection.capabilities(connection)
      if (!caps.compressDeflate) return yield* missing
    }
    const built = command(session, state)
    if (Result.isFailure(built)) return yield* built.failure
    const { command: compressCommand, tag } = built.success
    // Out of step with the server (a foreign tag, a continuation, uncompressed data after the OK,
    // undecodable input): core closes the connection.
    yield* Compression.compress(connection, compressCommand, options).pipe(
      // Refused by core before writing: the tag was never sent.
      Effect.ensuring(Effect.sync(() => state.inFlight.delete(tag))),
      Effect.ensuring(State.flush(session, state))
    )
  })

/**
 * `compress` when it can help and cannot hurt: over TLS, COMPRESS=DEFLATE advertised, not yet
 * active. A refusal leaves the connection uncompressed (the result says whether it is compressed);
 * any other failure fails.
 */
export const ifOffered = (connection: Authenticated): Effect.Effect<boolean, MailError.MailError> =>
  Effect.gen(function*() {
    const session = yield* Connection.check(connection)
    if (Compression.isActive(connection)) return true
    if (session.wire.tls() === undefined) return false
    const caps = yield* Connection.capabilities(connection)
    if (!caps.compressDeflate) return false
    return yield* compress(connection).pipe(
      Effect.as(true),
      Effect.catchReason("MailError", "CompressionRejected", () => Effect.succeed(false)),
      // Only MissingCapability can come here (checked above): not offered after all.
      Effect.catchTag("ImapError", () => Effect.succeed(false))
    )
  })
