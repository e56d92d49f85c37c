/**
 * Opening SMTP and LMTP sessions on core's engine, shared by `SmtpClient` and `LmtpClient`:
 * connect, STARTTLS (a refused or failed upgrade closes the connection: under the default policy
 * there is nothing more to say on it), implicit TLS, the dangerous opportunistic mode with its
 * HELO fallback, and authentication.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import type * as Credentials from "@starttls/core/Credentials"
import * as MailError from "@starttls/core/MailError"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as SmtpCommand from "../SmtpCommand.ts"
import * as SmtpDialect from "../SmtpDialect.ts"
import * as SmtpError from "../SmtpError.ts"
import * as SmtpExtensions from "../SmtpExtensions.ts"
import type * as SmtpReply from "../SmtpReply.ts"
import * as State from "./state.ts"
import type * as SmtpClient from "../SmtpClient.ts"
import * as Transaction from "./transaction.ts"
import { abandon, refusal } from "./transaction.ts"

export type Protocol = "SMTP" | "LMTP"
type Ext = SmtpExtensions.SmtpExtensions
type Handle<S extends Connection.State> = Connection.Connection<S, SmtpReply.SmtpReply, Ext>
type Session = Connection.Session<SmtpReply.SmtpReply, Ext>

export interface Options extends Connection.Options {
  readonly clientName?: string | undefined
}

const defaults: Record<Protocol, SmtpDialect.SmtpDialect> = { SMTP: SmtpDialect.smtp, LMTP: SmtpDialect.lmtp }

const dialectFor = (protocol: Protocol, options: Options): Effect.Effect<SmtpDialect.SmtpDialect, SmtpError.SmtpError> => {
  if (options.clientName === undefined) return Effect.succeed(defaults[protocol])
  const made = (protocol === "LMTP" ? SmtpDialect.makeLmtp : SmtpDialect.make)({ clientName: options.clientName })
  return Result.isSuccess(made)
    ? Effect.succeed(made.success)
    : Effect.fail(SmtpError.make(new SmtpError.InvalidArgument({ field: "clientName", detail: made.failure.detail })))
}

/** The per-connection state (made by this package's dialects; rebuilt for a foreign dialect). */
export const stateOf = (session: Session): State.SmtpState => {
  const known = State.of(session.protocol)
  if (known !== undefined) return known
  const protocol: Protocol = session.dialect.name === "LMTP" ? "LMTP" : "SMTP"
  const state: State.SmtpState = {
    protocol,
    clientName: SmtpDialect.defaultClientName,
    hello: protocol === "LMTP" ? "LHLO" : "EHLO",
    needsReset: false,
    plaintext: session.state === "Plain"
  }
  State.register(session.protocol, state)
  return state
}

const closeOnFailure = <A, E, R>(session: Session, effect: Effect.Effect<A, E, R>) =>
  Effect.tapError(effect, () => (session.state === "Closed" ? session.wire.destroy : Effect.void))

export const connect = (
  protocol: Protocol,
  options: Omit<Options, "security">
): Effect.Effect<Handle<"Plain">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Effect.flatMap(dialectFor(protocol, options), (dialect) =>
    Effect.tap(Connection.connect(dialect, options), (plain) =>
      Effect.sync(() => {
        stateOf(plain.session).plaintext = true
      })))

export const connectTls = (
  protocol: Protocol,
  options: Omit<Options, "security">
): Effect.Effect<Handle<"Secure">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Effect.flatMap(dialectFor(protocol, options), (dialect) =>
    Effect.flatMap(Connection.connectTls(dialect, options), (connection) => {
      stateOf(connection.session).plaintext = false
      // SMTP has no pre-authenticated greeting: the engine only returns Authenticated for one.
      return connection.state === "Secure"
        ? Effect.succeed(connection as Handle<"Secure">)
        : Effect.fail(MailError.make(
          new MailError.ProtocolViolation({ phase: "greeting", detail: "unexpected pre-authenticated session" })
        ))
    }))

/** STARTTLS; on any failure the connection is closed (S1: no plaintext fallback). */
export const startTls = (plain: Handle<"Plain">): Effect.Effect<Handle<"Secure">, MailError.MailError> =>
  closeOnFailure(plain.session, Connection.startTls(plain))

export const secure = (
  protocol: Protocol,
  options: Options
): Effect.Effect<Handle<"Secure">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Effect.flatMap(dialectFor(protocol, options), (dialect) =>
    Effect.flatMap(Connection.open(dialect, options), (connection) => {
      const state = stateOf(connection.session)
      if (connection.state === "Plain") {
        state.plaintext = true
        return startTls(connection as Handle<"Plain">)
      }
      state.plaintext = false
      return connection.state === "Secure"
        ? Effect.succeed(connection as Handle<"Secure">)
        : Effect.fail(MailError.make(
          new MailError.ProtocolViolation({ phase: "greeting", detail: "unexpected pre-authenticated session" })
        ))
    }))

const refused = (command: string, reply: SmtpReply.SmtpReply) => SmtpError.make(refusal(command, reply))

const encoded = (command: SmtpCommand.SmtpCommand) => {
  const result = SmtpCommand.encodeWithRedaction(command)
  return Result.isSuccess(result)
    ? Effect.succeed(result.success)
    : Effect.fail(SmtpError.make(new SmtpError.InvalidArgument({ field: result.failure.field, detail: result.failure.detail })))
}

const simple = (session: Session, command: SmtpCommand.SmtpCommand, phase: MailError.Phase) =>
  Effect.flatMap(encoded(command), (line) =>
    Effect.andThen(session.wire.write([line.bytes], line.trace, phase), session.wire.next(phase)))

/**
 * EHLO (LHLO), falling back to HELO when EHLO is refused with 5yz (RFC 5321 §4.1.4): only for the
 * dangerous opportunistic mode, where the session may stay in plaintext anyway.
 */
const hello = (session: Session, state: State.SmtpState) =>
  Effect.gen(function*() {
    const greeting = state.protocol === "LMTP" ? SmtpCommand.lhlo(state.clientName) : SmtpCommand.ehlo(state.clientName)
    const reply = yield* simple(session, greeting, "capabilities")
    if (reply.code === 250) return SmtpExtensions.parseEhlo(reply)
    if (state.protocol === "LMTP" || reply.code < 500) return yield* Effect.fail(refused(state.hello, reply))
    const helo = yield* simple(session, SmtpCommand.helo(state.clientName), "capabilities")
    if (helo.code !== 250) return yield* Effect.fail(refused("HELO", helo))
    state.hello = "HELO"
    // HELO announces no extension: the first line only.
    return SmtpExtensions.parseEhlo({ ...helo, lines: helo.lines.slice(0, 1) })
  })

const downgrade = (session: Session, reason: string) =>
  SecurityEvents.emit({ _tag: "Downgrade", protocol: session.dialect.name, host: session.host, reason })

/**
 * DANGEROUS: STARTTLS when offered, else (or when refused) the session stays in plaintext, typed
 * Plain, with a `Downgrade` event. A refused EHLO falls back to HELO (no extensions, no STARTTLS).
 * A 421 or an odd STARTTLS reply, a failed handshake and injection still fail.
 */
export const opportunistic = (
  protocol: Protocol,
  options: Omit<Options, "security">
): Effect.Effect<
  Handle<"Plain"> | Handle<"Secure">,
  MailError.MailError | SmtpError.SmtpError,
  Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
> =>
  Effect.gen(function*() {
    yield* TlsPolicy.OpportunisticStartTls
    const plain = yield* connect(protocol, options)
    const session = plain.session
    const state = stateOf(session)
    const extensions = yield* Connection.withSession(plain, () => hello(session, state)).pipe(
      Effect.tapError(() => abandon(session))
    )
    session.plaintextCapabilities = extensions
    if (!extensions.startTls) {
      yield* downgrade(session, state.hello === "HELO" ? "EHLO refused; HELO cannot negotiate STARTTLS" : "STARTTLS not offered")
      return plain
    }
    return yield* Connection.startTls(plain).pipe(
      Effect.catchReason("MailError", "StartTlsRejected", (reason) => {
        // 421: the server is closing the connection; nothing to continue on.
        if (reason.code === "421") return Effect.fail(MailError.make(reason))
        const again: Handle<"Plain"> = Connection.reissue(session, "Plain")
        return Effect.as(downgrade(session, `STARTTLS refused (${reason.code ?? "?"})`), again)
      }),
      Effect.tapError(() => (session.state === "Closed" ? session.wire.destroy : Effect.void))
    )
  })

export const authenticate = <S extends "Plain" | "Secure", E = never>(
  connection: Handle<S>,
  credentials: Credentials.Credentials<E>,
  options?: Connection.AuthenticateOptions
): Effect.Effect<Handle<"Authenticated">, E | MailError.MailError, TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>> =>
  Connection.authenticate(connection, credentials, options)

/** RSET or NOOP outside a transaction. */
export const command = (
  connection: Handle<Connection.State>,
  name: "RSET" | "NOOP"
): Effect.Effect<void, MailError.MailError | SmtpError.SmtpError> =>
  Connection.withSession(connection, (session) =>
    Effect.flatMap(simple(session, name === "RSET" ? SmtpCommand.rset : SmtpCommand.noop, "command"), (reply) => {
      if (reply.code === 421) return Effect.andThen(abandon(session), Effect.fail(refused(name, reply)))
      if (reply.code !== 250) return Effect.fail(refused(name, reply))
      if (name === "RSET") stateOf(session).needsReset = false
      return Effect.void
    }))

/** The extensions of the current security state: over TLS when Secure (S4), untrusted on Plain. */
export const extensionsOf = (session: Session): Effect.Effect<Ext, MailError.MailError> =>
  Effect.suspend(() => {
    const plaintext = session.state === "Plain"
    const known = plaintext ? session.plaintextCapabilities : session.capabilities
    return known !== undefined ? Effect.succeed(known) : Connection.askCapabilities(session)
  })

/**
 * One transaction under the session lock; on Plain the dangerous policy must be present (the
 * requirement is typed with `OnPlain`). `progress` tells the pool whether a retry is safe.
 */
export const send = <S extends Connection.State, E = never, R = never>(
  connection: Handle<S>,
  envelope: SmtpClient.Envelope,
  message: SmtpClient.Message<E, R>,
  options: SmtpClient.SendOptions | undefined,
  progress: Transaction.Progress
): Effect.Effect<
  SmtpClient.SendResult,
  SmtpError.SmtpError | MailError.MailError | E,
  R | TlsPolicy.OnPlain<S, TlsPolicy.OpportunisticStartTls>
> =>
  Connection.withSession(connection, (session) => {
    const run = Effect.flatMap(
      extensionsOf(session),
      (ext) => Transaction.run(session, stateOf(session), ext, envelope, message, options, progress)
    )
    return session.state === "Plain" ? Effect.andThen(Effect.service(TlsPolicy.OpportunisticStartTls), run) : run
  }).pipe(Effect.withSpan("Smtp.send", undefined, { captureStackTrace: false })) as Effect.Effect<
      SmtpClient.SendResult,
      SmtpError.SmtpError | MailError.MailError | E,
      // Only a Plain handle reaches the policy requirement, which is what OnPlain says.
      R | TlsPolicy.OnPlain<S, TlsPolicy.OpportunisticStartTls>
    >
