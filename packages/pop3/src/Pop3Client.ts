/**
 * The POP3 client (RFC 1939, RFC 2449, RFC 2595 §4 STLS, RFC 5034 SASL): operations as functions
 * over typed connection handles.
 *
 * ```
 *  AUTHORIZATION (Plain | Secure) ──authenticate / login / apop──▶ TRANSACTION (Authenticated) ──quit──▶ UPDATE
 * ```
 *
 * RFC 1939's AUTHORIZATION state is a `Plain` or `Secure` handle, TRANSACTION an `Authenticated`
 * one: STAT, LIST, UIDL, RETR, TOP, DELE, RSET and NOOP take only an `Authenticated` handle, and
 * every login (SASL, USER/PASS, APOP) goes through core's policy, so on a `Plain` handle it needs
 * `TlsPolicy.PlaintextAuth` (the dangerous layer) before the program can run.
 *
 * - TLS is required by default: `secure` sends STLS straight after the greeting and then asks CAPA
 *   again over TLS; nothing learned before TLS is kept (S1, S3, S4). `session` with one named
 *   mechanism (`authenticate: { mechanisms: ["PLAIN"] }`) sends AUTH right after the handshake and
 *   asks CAPA over TLS only when something needs it: one round trip less (three client turns from
 *   TCP connect to authenticated, as few as a raw client that never asks CAPA).
 * - RETR and TOP are `Stream<Uint8Array>`s with constant memory: the body flows as the server sends
 *   it, dot-unstuffed, line endings as sent (CRLF). A stream holds the session for as long as it
 *   runs; when it stops early, the rest of the answer is read and dropped.
 * - With PIPELINING (RFC 2449 §6.6) advertised, `retrieveAll`, `deleteMany` and `pipeline` send
 *   their commands in windows of many and match the answers in order; without it, one at a time.
 * - Deletions count only after QUIT's `+OK` (RFC 1939 §6, S12): `dele` marks, `quit` says what was
 *   deleted, and fails with `NotCommitted` when it cannot vouch for it.
 *
 * One operation at a time per connection: a second one waits for the first (a RETR stream included)
 * to finish. Do not start an operation on the same connection from inside a running stream.
 *
 * @example
 * ```ts
 * import * as Pop3Client from "@starttls/pop3/Pop3Client"
 * import * as Credentials from "@starttls/core/Credentials"
 * import * as NodeTransport from "@starttls/core/NodeTransport"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 * import * as Stream from "effect/Stream"
 *
 * const program = Effect.gen(function*() {
 *   const pop3 = yield* Pop3Client.session({
 *     host: "mail.example.com",
 *     port: 110,
 *     credentials: Credentials.password({ username: "me", password: Redacted.make("pw") })
 *   })
 *   const { count } = yield* Pop3Client.stat(pop3)
 *   if (count > 0) yield* Stream.runDrain(Pop3Client.retrieve(pop3, 1))
 *   yield* Pop3Client.quit(pop3)
 * }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Connection from "@starttls/core/Connection"
import type * as Credentials from "@starttls/core/Credentials"
import * as MailError from "@starttls/core/MailError"
import * as Sasl from "@starttls/core/Sasl"
import type * as Tls from "@starttls/core/Tls"
import type * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Wire from "@starttls/core/Wire"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Apop from "./Apop.ts"
import * as Flight from "./internal/flight.ts"
import type * as Pop3Capabilities from "./Pop3Capabilities.ts"
import * as Pop3Command from "./Pop3Command.ts"
import * as Pop3Dialect from "./Pop3Dialect.ts"
import * as Pop3Error from "./Pop3Error.ts"
import * as Pop3Response from "./Pop3Response.ts"

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/**
 * A POP3 connection handle in security state `S`.
 *
 * @category models
 * @since 0.1.0
 */
export type Pop3Connection<S extends Connection.State> = Connection.Connection<
  S,
  Pop3Response.Frame,
  Pop3Capabilities.Pop3Capabilities
>

/**
 * The states of RFC 1939's AUTHORIZATION state (§4): before a login, with or without TLS.
 *
 * @category models
 * @since 0.1.0
 */
export type Authorization = "Plain" | "Secure"

/**
 * RFC 1939's TRANSACTION state (§5): after a successful login.
 *
 * @category models
 * @since 0.1.0
 */
export type Transaction = "Authenticated"

/**
 * Where and how to connect (port 110 uses STLS, 995 implicit TLS, unless `security` says).
 *
 * @category models
 * @since 0.1.0
 */
export type Options = Connection.Options

/**
 * A message retrieved by `retrieveAll`: its number and its bytes (dot-unstuffed, CRLF line endings
 * as the server sent them, without the terminating `.` line).
 *
 * @category models
 * @since 0.1.0
 */
export interface Message {
  readonly msg: number
  readonly bytes: Uint8Array
}

/**
 * The answer to one command of `pipeline`: its status line and, after `+OK`, the lines of a LIST /
 * UIDL listing or the body of a RETR / TOP.
 *
 * @category models
 * @since 0.1.0
 */
export interface Reply {
  readonly command: TransactionCommand
  readonly status: Pop3Response.StatusLine
  readonly lines: ReadonlyArray<string> | undefined
  readonly body: Uint8Array | undefined
}

/**
 * The commands of the TRANSACTION state that `pipeline` sends (RFC 1939 §5, §7). STLS, AUTH and QUIT
 * are never pipelined.
 *
 * @category models
 * @since 0.1.0
 */
export type TransactionCommand =
  | Pop3Command.Stat
  | Pop3Command.List
  | Pop3Command.Uidl
  | Pop3Command.Retr
  | Pop3Command.Top
  | Pop3Command.Dele
  | Pop3Command.Rset
  | Pop3Command.Noop

/**
 * What `deleteMany` did: the messages now marked for deletion (deleted at QUIT), and those the
 * server refused to mark.
 *
 * @category models
 * @since 0.1.0
 */
export interface DeleteResult {
  readonly marked: ReadonlyArray<number>
  readonly refused: ReadonlyArray<Pop3Error.Refused>
}

/**
 * The end of a session: QUIT's `+OK` arrived and the server removed `deleted` (RFC 1939 §6).
 *
 * @category models
 * @since 0.1.0
 */
export interface QuitResult {
  readonly committed: true
  readonly deleted: ReadonlyArray<number>
}

/**
 * Options of the pipelined operations.
 *
 * @category models
 * @since 0.1.0
 */
export interface PipelineOptions {
  /**
   * Most commands in flight when the server advertises PIPELINING (more are sent as answers come).
   * Default 256. Without PIPELINING: 1.
   */
  readonly window?: number | undefined
}

const DEFAULT_WINDOW = 256

// -----------------------------------------------------------------------------
// Connecting
// -----------------------------------------------------------------------------

const unexpectedState = <S extends Connection.State>(connection: Pop3Connection<S>) =>
  Effect.fail(MailError.make(
    new MailError.ProtocolViolation({ phase: "greeting", detail: `unexpected ${connection.state} state after the greeting` })
  ))

/**
 * Opens a connection for STLS and reads the greeting (`-ERR` is `GreetingRejected`, its text
 * untrusted). The handle is `Plain`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = (
  options: Omit<Options, "security">
): Effect.Effect<Pop3Connection<"Plain">, MailError.MailError, Transport | Scope.Scope> =>
  Connection.connect(Pop3Dialect.dialect, options).pipe(Effect.withSpan("Pop3.connect"))

/**
 * Opens an implicit-TLS connection (POP3S, RFC 8314) and reads the greeting over TLS.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectTls = (
  options: Omit<Options, "security">
): Effect.Effect<Pop3Connection<"Secure">, MailError.MailError, Transport | Scope.Scope> =>
  Connection.connectTls(Pop3Dialect.dialect, options).pipe(
    // POP3 has no pre-authenticated greeting.
    Effect.flatMap((c) => (c.state === "Secure" ? Effect.succeed(c) : unexpectedState(c))),
    Effect.withSpan("Pop3.connectTls")
  )

/**
 * Opens a connection and makes it secure (S1): implicit TLS, or STLS sent right after the greeting
 * (whatever a plaintext CAPA would have said), then CAPA over TLS. A refused STLS, a failed
 * handshake or bytes injected after the `+OK` fail, with nothing but STLS written.
 *
 * @category constructors
 * @since 0.1.0
 */
export const secure = (
  options: Options
): Effect.Effect<Pop3Connection<"Secure">, MailError.MailError, Transport | Scope.Scope> =>
  Connection.secure(Pop3Dialect.dialect, options).pipe(
    Effect.flatMap((c) => (c.state === "Secure" ? Effect.succeed(c) : unexpectedState(c))),
    Effect.withSpan("Pop3.secure")
  )

/**
 * DANGEROUS (needs `TlsPolicy.OpportunisticStartTls`): STLS when CAPA offers it and the server
 * accepts it; otherwise the session stays `Plain` (a `Downgrade` event is emitted).
 *
 * @category constructors
 * @since 0.1.0
 */
export const opportunistic = (
  options: Omit<Options, "security">
): Effect.Effect<
  Pop3Connection<"Plain"> | Pop3Connection<"Secure">,
  MailError.MailError,
  Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
> => Connection.opportunistic(Pop3Dialect.dialect, options).pipe(Effect.withSpan("Pop3.opportunistic"))

/**
 * STLS (RFC 2595 §4) on a `Plain` handle, then CAPA over TLS (with `deferCapabilities`, when first
 * needed instead). Nothing learned before TLS is kept (S4). Consumes the handle.
 *
 * @category combinators
 * @since 0.1.0
 */
export const startTls = (
  connection: Pop3Connection<"Plain">,
  options?: Connection.StartTlsOptions
): Effect.Effect<Pop3Connection<"Secure">, MailError.MailError> =>
  Connection.startTls(connection, options).pipe(Effect.withSpan("Pop3.startTls"))

/**
 * Asks CAPA now (RFC 2449 §5). On a `Plain` handle the answer is untrusted: it is kept apart and
 * forgotten at STLS (S4), and under the default policy decides nothing.
 *
 * @category combinators
 * @since 0.1.0
 */
export const queryCapabilities = <S extends Connection.State>(
  connection: Pop3Connection<S>
): Effect.Effect<Pop3Capabilities.Pop3Capabilities, MailError.MailError> =>
  Connection.queryCapabilities(connection).pipe(Effect.withSpan("Pop3.queryCapabilities"))

/**
 * The capabilities learned over TLS (asked now if not yet known).
 *
 * @category combinators
 * @since 0.1.0
 */
export const capabilities = <S extends "Secure" | "Authenticated">(
  connection: Pop3Connection<S>
): Effect.Effect<Pop3Capabilities.Pop3Capabilities, MailError.MailError> => Connection.capabilities(connection)

// -----------------------------------------------------------------------------
// Authentication (AUTHORIZATION → TRANSACTION)
// -----------------------------------------------------------------------------

/**
 * SASL authentication (AUTH, RFC 5034, with an initial response when the line fits 255 octets,
 * else after the first empty challenge): the strongest mechanism both sides offer, from the
 * capabilities learned over TLS (S11). With `withoutCapabilities` and one named mechanism of
 * `Sasl.offerIndependent`, a TLS connection whose capabilities are not known yet sends AUTH
 * without asking CAPA first. On `Plain`, it needs `TlsPolicy.PlaintextAuth`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const authenticate = <S extends Authorization, E = never>(
  connection: Pop3Connection<S>,
  credentials: Credentials.Credentials<E>,
  options?: Connection.AuthenticateOptions
): Effect.Effect<Pop3Connection<"Authenticated">, E | MailError.MailError, TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>> =>
  Connection.authenticate(connection, credentials, options).pipe(Effect.withSpan("Pop3.authenticate"))

const authFailure = (mechanism: string, status: Pop3Response.StatusLine) =>
  MailError.make(
    new MailError.AuthenticationFailed({
      mechanism,
      detail: "the server rejected the credentials",
      untrustedReply: status.text,
      ...(status.code === undefined ? {} : { code: status.code.tokens.join("/") })
    })
  )

const invalidCredentials = (mechanism: string, error: Pop3Error.Pop3Error) =>
  MailError.make(
    new MailError.AuthenticationFailed({
      mechanism,
      code: "InvalidInput",
      detail: `the credentials cannot be sent: ${error.message}`
    })
  )

const knownCapabilities = (session: Pop3Dialect.Session) =>
  session.state === "Plain" ? session.plaintextCapabilities : session.capabilities

/**
 * USER / PASS (RFC 1939 §7). Refused without sending anything when the capabilities (learned over
 * TLS on a `Secure` handle) lack USER (RFC 2449 §6.2). Over TLS with PIPELINING, both go out in one
 * flight; in plaintext (only with `TlsPolicy.PlaintextAuth`) PASS waits for USER's `+OK`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const login = <S extends Authorization>(
  connection: Pop3Connection<S>,
  credentials: Credentials.Password
): Effect.Effect<Pop3Connection<"Authenticated">, MailError.MailError, TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>> =>
  Connection.authorize(connection, "USER", (session) =>
    Effect.gen(function*() {
      const state = yield* Flight.stateOf(session, Pop3Dialect.state)
      const caps = knownCapabilities(session)
      if (caps !== undefined && !caps.user) {
        return yield* Effect.fail(MailError.make(
          new MailError.NoUsableMechanism({ offered: [...caps.sasl], detail: "the server does not offer USER (RFC 2449 §6.2)" })
        ))
      }
      const [user, pass] = yield* Flight.encodeAll([
        Pop3Command.user(credentials.username),
        Pop3Command.pass(credentials.password)
      ]).pipe(Effect.mapError((e) => invalidCredentials("USER", e)))
      if (session.state !== "Plain" && caps?.pipelining === true) {
        yield* Flight.send(session, state, [user!, pass!], "authenticate")
        const userStatus = yield* Flight.readStatus(session, "authenticate")
        const passStatus = yield* Flight.readStatus(session, "authenticate")
        if (userStatus._tag === "Err") return yield* Effect.fail(authFailure("USER", userStatus))
        if (passStatus._tag === "Err") return yield* Effect.fail(authFailure("USER", passStatus))
        return undefined
      }
      const userStatus = yield* Flight.single(session, state, user!, "authenticate")
      if (userStatus._tag === "Err") return yield* Effect.fail(authFailure("USER", userStatus))
      const passStatus = yield* Flight.single(session, state, pass!, "authenticate")
      if (passStatus._tag === "Err") return yield* Effect.fail(authFailure("USER", passStatus))
      return undefined
    })).pipe(Effect.withSpan("Pop3.login"))

/**
 * APOP (RFC 1939 §7) with the timestamp of the greeting: `NoUsableMechanism` when the greeting had
 * none. A legacy mechanism (MD5 of the shared secret): prefer `authenticate`. On `Plain` it needs
 * `TlsPolicy.PlaintextAuth` like any login.
 *
 * @category combinators
 * @since 0.1.0
 */
export const apop = <S extends Authorization>(
  connection: Pop3Connection<S>,
  credentials: Credentials.Password
): Effect.Effect<Pop3Connection<"Authenticated">, MailError.MailError, TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>> =>
  Connection.authorize(connection, "APOP", (session) =>
    Effect.gen(function*() {
      const state = yield* Flight.stateOf(session, Pop3Dialect.state)
      const timestamp = state.timestamp()
      if (timestamp === undefined) {
        return yield* Effect.fail(MailError.make(
          new MailError.NoUsableMechanism({ offered: [], detail: "the greeting carries no APOP timestamp (RFC 1939 §7)" })
        ))
      }
      const [command] = yield* Flight.encodeAll([Apop.command(credentials.username, timestamp, credentials.password)])
        .pipe(Effect.mapError((e) => invalidCredentials("APOP", e)))
      const status = yield* Flight.single(session, state, command!, "authenticate")
      if (status._tag === "Err") return yield* Effect.fail(authFailure("APOP", status))
      return undefined
    })).pipe(Effect.withSpan("Pop3.apop"))

/**
 * `session` options.
 *
 * @category models
 * @since 0.1.0
 */
export interface SessionOptions<E> extends Options {
  readonly credentials: Credentials.Credentials<E>
  readonly authenticate?: Connection.AuthenticateOptions | undefined
}

/**
 * The named-mechanism path of `session`: STLS straight after the greeting, the handshake, then AUTH
 * at once; CAPA waits until something needs it (in TRANSACTION, over TLS).
 */
const namedSession = <E>(
  options: SessionOptions<E>
): Effect.Effect<Pop3Connection<"Authenticated">, E | MailError.MailError, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const opened = yield* Connection.open(Pop3Dialect.dialect, options)
    if (opened.state === "Authenticated") return yield* unexpectedState(opened)
    const connection = opened.state === "Plain"
      ? yield* Connection.startTls(opened as Pop3Connection<"Plain">, { deferCapabilities: true }).pipe(
        // As `secure`: a refused STLS ends the connection (S1).
        Effect.tapError(() => Connection.abandon(opened.session))
      )
      : opened as Pop3Connection<"Secure">
    return yield* authenticate(connection, options.credentials, { ...options.authenticate, withoutCapabilities: true })
  })

/**
 * The common case in one call: connect, make the connection secure (`secure`), then SASL, or USER /
 * PASS when no SASL mechanism fits and the server offers USER.
 *
 * When `authenticate.mechanisms` names exactly one mechanism of `Sasl.offerIndependent` (PLAIN,
 * EXTERNAL, XOAUTH2, OAUTHBEARER, SCRAM-SHA-256-PLUS; e.g. `authenticate: { mechanisms: ["PLAIN"]
 * }`, as with `ImapClient.session`), AUTH is sent right after the TLS handshake instead of after a
 * CAPA round trip: POP3 may not send AUTH together with CAPA unless PIPELINING was advertised over
 * TLS (RFC 2449 §6.6), which the client does not know yet. The CAPA re-query then happens when
 * something first needs it (`capabilities`, a pipelined operation), over TLS in TRANSACTION
 * (RFC 2449 §5). Nothing learned before TLS is used (S4): the mechanism is the caller's, sent only
 * after STLS's `+OK` and a verified handshake; a server that does not support it answers `-ERR`
 * (`AuthenticationFailed`), and there is no USER / PASS fallback. `withoutCapabilities: false`
 * keeps the CAPA first.
 *
 * @category constructors
 * @since 0.1.0
 */
export const session = <E = never>(
  options: SessionOptions<E>
): Effect.Effect<Pop3Connection<"Authenticated">, E | MailError.MailError, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    if (
      Sasl.independentOf(options.authenticate?.mechanisms) !== undefined &&
      options.authenticate?.withoutCapabilities !== false
    ) {
      return yield* namedSession(options)
    }
    const connection = yield* secure(options)
    const credentials = options.credentials
    // NoUsableMechanism is decided before anything is written: the handle is still current.
    const fallback = (error: E | MailError.MailError): error is MailError.MailError =>
      error instanceof MailError.MailError && error.reason._tag === "NoUsableMechanism" &&
      credentials._tag === "Password" && connection.session.capabilities?.user === true
    return yield* authenticate(connection, credentials, options.authenticate).pipe(
      Effect.catchIf(fallback, (error) =>
        credentials._tag === "Password" ? login(connection, credentials) : Effect.fail(error))
    )
  }).pipe(Effect.withSpan("Pop3.session"))

// -----------------------------------------------------------------------------
// TRANSACTION (RFC 1939 §5, §7)
// -----------------------------------------------------------------------------

type Failure = Pop3Error.Pop3Error | MailError.MailError

/** One command, answered by one status line (or a LIST / UIDL listing), under the session lock. */
const transact = <A>(
  connection: Pop3Connection<"Authenticated">,
  command: TransactionCommand,
  read: (answer: Flight.Answer<TransactionCommand>) => Effect.Effect<A, Failure>
): Effect.Effect<A, Failure> =>
  Connection.withSession(connection, (session) =>
    Effect.gen(function*() {
      const state = yield* Flight.stateOf(session, Pop3Dialect.state)
      const encoded = yield* Flight.encodeAll([command])
      const [answer] = yield* Flight.run(Flight.make(session, state, encoded, 1, track(state)))
      if (answer!.status._tag === "Err") return yield* Effect.fail(Flight.refused(command, answer!.status))
      return yield* read(answer!)
    }))

/** Keeps the client's view of the marked messages (RFC 1939 §5 DELE, RSET). */
const track = (state: Pop3Dialect.State) => (answer: Flight.Answer<Pop3Command.Pop3Command>): void => {
  if (answer.status._tag !== "Ok") return
  if (answer.command._tag === "Dele") state.marked.add(answer.command.msg)
  else if (answer.command._tag === "Rset") state.marked.clear()
}

const decoded = <A>(result: Result.Result<A, { readonly detail: string }>): Effect.Effect<A, MailError.MailError> =>
  Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(Flight.violation("command", result.failure.detail))

/**
 * STAT (RFC 1939 §5): messages in the maildrop (not counting those marked deleted) and their size.
 *
 * @category combinators
 * @since 0.1.0
 */
export const stat = Effect.fn("Pop3.stat")(function*(connection: Pop3Connection<"Authenticated">) {
  return yield* transact(connection, Pop3Command.stat, (answer) => decoded(Pop3Response.parseStat(answer.status)))
})

/**
 * LIST (RFC 1939 §5): every message's number and size in octets (as sent, with CRLF line endings).
 *
 * @category combinators
 * @since 0.1.0
 */
export const list = Effect.fn("Pop3.list")(function*(connection: Pop3Connection<"Authenticated">) {
  return yield* transact(connection, Pop3Command.list(), (answer) => decoded(Pop3Response.parseList(answer.lines ?? [])))
})

/**
 * LIST msg (RFC 1939 §5): one message's size.
 *
 * @category combinators
 * @since 0.1.0
 */
export const listMessage = Effect.fn("Pop3.listMessage")(function*(
  connection: Pop3Connection<"Authenticated">,
  msg: number
) {
  return yield* transact(connection, Pop3Command.list(msg), (answer) => decoded(Pop3Response.parseListLine(answer.status.text)))
})

/**
 * UIDL (RFC 1939 §7): every message's unique id.
 *
 * @category combinators
 * @since 0.1.0
 */
export const uidl = Effect.fn("Pop3.uidl")(function*(connection: Pop3Connection<"Authenticated">) {
  return yield* transact(connection, Pop3Command.uidl(), (answer) => decoded(Pop3Response.parseUidl(answer.lines ?? [])))
})

/**
 * UIDL msg (RFC 1939 §7): one message's unique id.
 *
 * @category combinators
 * @since 0.1.0
 */
export const uidlMessage = Effect.fn("Pop3.uidlMessage")(function*(
  connection: Pop3Connection<"Authenticated">,
  msg: number
) {
  return yield* transact(connection, Pop3Command.uidl(msg), (answer) => decoded(Pop3Response.parseUidlLine(answer.status.text)))
})

/**
 * DELE (RFC 1939 §5): marks a message for deletion. Nothing is deleted before QUIT's `+OK` (`quit`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const dele = Effect.fn("Pop3.dele")(function*(connection: Pop3Connection<"Authenticated">, msg: number) {
  return yield* transact(connection, Pop3Command.dele(msg), () => Effect.void)
})

/**
 * RSET (RFC 1939 §5): unmarks every message marked for deletion.
 *
 * @category combinators
 * @since 0.1.0
 */
export const rset = Effect.fn("Pop3.rset")(function*(connection: Pop3Connection<"Authenticated">) {
  return yield* transact(connection, Pop3Command.rset, () => Effect.void)
})

/**
 * NOOP (RFC 1939 §5).
 *
 * @category combinators
 * @since 0.1.0
 */
export const noop = Effect.fn("Pop3.noop")(function*(connection: Pop3Connection<"Authenticated">) {
  return yield* transact(connection, Pop3Command.noop, () => Effect.void)
})

/**
 * A RETR / TOP body as a stream: the status line first, then the body chunks as they arrive.
 * `lend`: the chunks of one pull are released (`Wire.recycle`) when the consumer pulls again.
 */
/** The pull of a RETR / TOP body's chunks, under the caller's scope (which holds the session). */
const bodyPull = (
  connection: Pop3Connection<"Authenticated">,
  command: Pop3Command.Retr | Pop3Command.Top,
  lend: boolean
): Effect.Effect<Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Failure | Cause.Done>, Failure, Scope.Scope> =>
  Effect.gen(function*() {
    const session = connection.session
    yield* session.lock.takeScoped(1)
    yield* Connection.check(connection)
    const state = yield* Flight.stateOf(session, Pop3Dialect.state)
    const encoded = yield* Flight.encodeAll([command])
    if (lend) yield* session.wire.lend
    let reading = false
    // Whatever stops the stream early, the rest of the answer is read before the lock is released.
    yield* Effect.addFinalizer(() => (reading ? drainBody(session) : Effect.void))
    yield* Flight.send(session, state, encoded)
    reading = true
    const status = yield* Flight.readStatus(session, "command").pipe(Effect.onError(() => Effect.sync(() => {
      reading = false
    })))
    if (status._tag === "Err") {
      reading = false
      return yield* Effect.fail(Flight.refused(command, status))
    }
    const batch = Effect.flatMap(session.wire.nextBatch("data"), (frames) => {
      const out: Array<Uint8Array> = []
      for (let i = 0; i < frames.length; i++) {
        const frame = frames[i]!
        if (frame._tag === "BodyChunk") out.push(frame.bytes)
        else if (frame._tag === "BodyEnd") reading = false
        else return Effect.fail(Flight.violation("data", `unexpected ${frame._tag} frame in a body`))
      }
      return Arr.isReadonlyArrayNonEmpty(out) ? Effect.succeed(out) : pull
    })
    const pull: Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array>, Failure | Cause.Done> = Effect.suspend(() =>
      reading ? (lend ? Effect.andThen(session.wire.recycle, batch) : batch) : Cause.done()
    )
    return pull
  })

const body = (
  connection: Pop3Connection<"Authenticated">,
  command: Pop3Command.Retr | Pop3Command.Top,
  span: string
): Stream.Stream<Uint8Array, Failure> =>
  Stream.unwrap(
    Effect.map(bodyPull(connection, command, false), (pull) => Stream.fromPull(Effect.succeed(pull))).pipe(
      Effect.withSpan(span)
    )
  )

/** Reads the rest of a body and drops it (releasing lent chunks); a wire that fails meanwhile is closed. */
const drainBody = (session: Pop3Dialect.Session): Effect.Effect<void> => {
  const loop: Effect.Effect<void, MailError.MailError> = Effect.flatMap(
    Effect.andThen(session.wire.recycle, session.wire.nextBatch("data")),
    (frames) => (frames.some((f) => f._tag === "BodyEnd") ? Effect.void : loop)
  )
  return Effect.catch(loop, () => session.wire.destroy)
}

/**
 * RETR (RFC 1939 §5) as a stream of body chunks with constant memory: the message as the server
 * stores it (dot-unstuffed, CRLF line endings), without the terminating `.` line. Fails with
 * `Refused` when the server answers `-ERR`. The stream holds the session until it ends.
 *
 * @category combinators
 * @since 0.1.0
 */
export const retrieve = (connection: Pop3Connection<"Authenticated">, msg: number): Stream.Stream<Uint8Array, Failure> =>
  body(connection, Pop3Command.retr(msg), "Pop3.retrieve")

/**
 * RETR with lent chunks, for big messages: runs `f` on the body's chunks in order, and gives a
 * chunk's memory back as soon as `f`'s effect for it completes — the chunk is detached afterwards,
 * so keeping it gives an empty array: copy what you keep. Peak memory then stays a few reads'
 * worth whatever the size and however rarely the garbage collector runs (with `retrieve`, chunks
 * the consumer dropped stay resident until the next collection: tens of MB during a fast 50 MB
 * transfer). The body pieces of the reads that arrived together are handed over as one chunk
 * (copied into a buffer of its own: one `f` per batch, not per TLS record or dot-stuffed line); a
 * single piece is handed over as it is, and released only over TLS (or compression), where this
 * process made it (`core` `Wire.forEachLent`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const retrieveEach = <E, R>(
  connection: Pop3Connection<"Authenticated">,
  msg: number,
  f: (chunk: Uint8Array) => Effect.Effect<void, E, R>
): Effect.Effect<void, Failure | E, R> =>
  Effect.scoped(Effect.flatMap(bodyPull(connection, Pop3Command.retr(msg), true), (pull) => Wire.forEachLent(pull, f))).pipe(
    Effect.withSpan("Pop3.retrieveEach")
  )

/**
 * TOP (RFC 1939 §7): the header, the blank line and the first `lines` lines of the body, as a stream.
 *
 * @category combinators
 * @since 0.1.0
 */
export const top = (
  connection: Pop3Connection<"Authenticated">,
  msg: number,
  lines: number
): Stream.Stream<Uint8Array, Failure> => body(connection, Pop3Command.top(msg, lines), "Pop3.top")

/**
 * The capabilities a flight's window depends on (PIPELINING), asked now over TLS when the login
 * skipped the re-query (`session` with a named mechanism; CAPA is valid in TRANSACTION, RFC 2449 §5).
 * A plaintext session never asks (it is never pipelined). The caller holds the session lock.
 */
const capabilitiesOverTls = (
  session: Pop3Dialect.Session
): Effect.Effect<Pop3Capabilities.Pop3Capabilities | undefined, MailError.MailError> =>
  session.capabilities !== undefined || session.wire.tls() === undefined
    ? Effect.succeed(session.capabilities)
    : Connection.askCapabilities(session)

/** Starts a flight under the stream's scope; the finalizer drains what was sent and not read. */
const flight = <C extends TransactionCommand>(
  connection: Pop3Connection<"Authenticated">,
  commands: ReadonlyArray<C>,
  options: PipelineOptions | undefined
): Effect.Effect<Flight.Flight<C>, Failure, Scope.Scope> =>
  Effect.gen(function*() {
    const session = connection.session
    yield* session.lock.takeScoped(1)
    yield* Connection.check(connection)
    const state = yield* Flight.stateOf(session, Pop3Dialect.state)
    const encoded = yield* Flight.encodeAll(commands)
    const wanted = options?.window ?? DEFAULT_WINDOW
    const capabilities = commands.length > 1 && wanted > 1 ? yield* capabilitiesOverTls(session) : session.capabilities
    const window = Flight.windowFor(capabilities, wanted)
    const started = Flight.make(session, state, encoded, window, track(state))
    yield* Effect.addFinalizer(() => started.drain)
    return started
  })

/**
 * Sends TRANSACTION commands as one pipelined flight (RFC 2449 §6.6; one at a time without
 * PIPELINING) and returns every answer in order, `-ERR` answers included. RETR / TOP bodies are
 * collected (each at most `maxLiteralSize`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const pipeline = Effect.fn("Pop3.pipeline")(function*(
  connection: Pop3Connection<"Authenticated">,
  commands: ReadonlyArray<TransactionCommand>,
  options?: PipelineOptions
) {
  const answers = yield* Effect.scoped(Effect.flatMap(flight(connection, commands, options), Flight.run))
  return answers.map((a): Reply => ({ command: a.command, status: a.status, lines: a.lines, body: a.body }))
})

/**
 * RETR of many messages, pipelined when the server allows it, as a stream of complete messages in
 * the order asked (each message is collected, at most `maxLiteralSize`; use `retrieve` for one big
 * message). Fails with `Refused` at the first `-ERR`. Stopping early reads and drops the answers
 * already requested.
 *
 * @category combinators
 * @since 0.1.0
 */
export const retrieveAll = (
  connection: Pop3Connection<"Authenticated">,
  msgs: ReadonlyArray<number>,
  options?: PipelineOptions
): Stream.Stream<Message, Failure> =>
  Stream.unwrap(
    Effect.map(flight(connection, msgs.map(Pop3Command.retr), options), (started) => {
      const pull: Effect.Effect<Arr.NonEmptyReadonlyArray<Message>, Failure | Cause.Done> = Effect.suspend(() =>
        started.done()
          ? Cause.done()
          : Effect.flatMap(started.pull, (answers) => {
            const out: Array<Message> = []
            for (const answer of answers) {
              if (answer.status._tag === "Err") return Effect.fail(Flight.refused(answer.command, answer.status))
              out.push({ msg: answer.command.msg, bytes: answer.body ?? new Uint8Array(0) })
            }
            return Arr.isReadonlyArrayNonEmpty(out) ? Effect.succeed(out) : pull
          })
      )
      return Stream.fromPull(Effect.succeed(pull))
    }).pipe(Effect.withSpan("Pop3.retrieveAll"))
  )

/**
 * DELE of many messages, pipelined when the server allows it. Marked messages are deleted only by
 * QUIT (`quit`); the refused ones are listed.
 *
 * @category combinators
 * @since 0.1.0
 */
export const deleteMany = Effect.fn("Pop3.deleteMany")(function*(
  connection: Pop3Connection<"Authenticated">,
  msgs: ReadonlyArray<number>,
  options?: PipelineOptions
) {
  const answers = yield* Effect.scoped(Effect.flatMap(flight(connection, msgs.map(Pop3Command.dele), options), Flight.run))
  const marked: Array<number> = []
  const refused: Array<Pop3Error.Refused> = []
  for (const answer of answers) {
    if (answer.status._tag === "Ok") marked.push(answer.command.msg)
    else refused.push(Flight.refusal(answer.command, answer.status))
  }
  const result: DeleteResult = { marked, refused }
  return result
})

// -----------------------------------------------------------------------------
// UPDATE (RFC 1939 §6)
// -----------------------------------------------------------------------------

const closeSession = (session: Pop3Dialect.Session) => Connection.abandon(session)

const notCommitted = (
  marked: ReadonlyArray<number>,
  outcome: "NotDeleted" | "Unknown",
  detail: string,
  untrustedText?: string
) =>
  Pop3Error.make(
    new Pop3Error.NotCommitted({ marked, outcome, detail, ...(untrustedText === undefined ? {} : { untrustedText }) })
  )

/**
 * QUIT (RFC 1939 §6) and close. In TRANSACTION, the server removes the marked messages and confirms
 * with `+OK`: only then are they reported deleted (S12). When messages were marked and that `+OK`
 * does not arrive, `quit` fails with `NotCommitted`: `"NotDeleted"` if QUIT could not be sent,
 * `"Unknown"` if it was (the connection broke before the answer, or the server answered `-ERR`).
 * With nothing marked, a failed QUIT fails with its own error (nothing can be lost). The connection
 * is closed in every case.
 *
 * @category destructors
 * @since 0.1.0
 */
export const quit = <S extends Connection.State>(
  connection: Pop3Connection<S>
): Effect.Effect<QuitResult, Failure> =>
  Connection.withSession(connection, (session) =>
    Effect.gen(function*() {
      const state = yield* Flight.stateOf(session, Pop3Dialect.state)
      const marked = [...state.marked].sort((a, b) => a - b)
      const [command] = yield* Flight.encodeAll([Pop3Command.quit])
      const sent = yield* Effect.result(Flight.send(session, state, [command!], "close"))
      if (Result.isFailure(sent)) {
        if (marked.length === 0) return yield* Effect.fail(sent.failure)
        return yield* Effect.fail(notCommitted(marked, "NotDeleted", "QUIT could not be sent"))
      }
      const status = yield* Effect.result(Flight.readStatus(session, "close"))
      if (Result.isFailure(status)) {
        if (marked.length === 0) return yield* Effect.fail(status.failure)
        return yield* Effect.fail(notCommitted(marked, "Unknown", `no answer to QUIT: ${status.failure.message}`))
      }
      if (status.success._tag === "Err") {
        if (marked.length === 0) return yield* Effect.fail(Flight.refused(Pop3Command.quit, status.success))
        return yield* Effect.fail(
          notCommitted(marked, "Unknown", "the server answered QUIT with -ERR", status.success.text)
        )
      }
      state.marked.clear()
      const result: QuitResult = { committed: true, deleted: connection.state === "Authenticated" ? marked : [] }
      return result
    }).pipe(Effect.ensuring(closeSession(session)))).pipe(Effect.withSpan("Pop3.quit"))

/**
 * The TLS session of the connection (protocol, cipher, verification), if it is encrypted.
 *
 * @category getters
 * @since 0.1.0
 */
export const tlsSession = <S extends Connection.State>(connection: Pop3Connection<S>): Tls.TlsSession | undefined =>
  Connection.tlsSession(connection)

/**
 * Closes the connection with a best-effort QUIT whose outcome is ignored. To learn whether marked
 * messages were deleted, use `quit`.
 *
 * @category destructors
 * @since 0.1.0
 */
export const close = <S extends Connection.State>(connection: Pop3Connection<S>): Effect.Effect<void> =>
  Connection.close(connection)
