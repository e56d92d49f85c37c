/**
 * The IMAP client (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1): operations as functions over typed
 * handles. The security states are core's (`ImapConnection<"Plain" | "Secure" | "Authenticated">`);
 * IMAP's Selected state is its own handle, `Selected`, valid until another mailbox is selected or
 * the mailbox is closed. Each operation exists only in the states RFC 9051 §6 allows it in:
 *
 * | state | operations |
 * |---|---|
 * | any | `noop`, `logout`, `events` (connect with `connect`, `connectTls`, `secure`, `session`, `opportunistic`) |
 * | Plain | `startTls`, `untrustedCapabilities`; `authenticate` / `login` only with `TlsPolicy.PlaintextAuth` in `R` |
 * | Secure | `capabilities`, `authenticate`, `login`, `id` (never on Plain: ID goes over TLS only) |
 * | Authenticated, before any SELECT | `enable` |
 * | Authenticated (or Selected) | `select`, `examine`, `list`, `status`, `create`, `deleteMailbox`, `rename`, `subscribe`, `unsubscribe`, `append`, `namespace`, `id`, `compress` (`isCompressed` on any handle) |
 * | Selected | `fetch`, `fetchAll`, `download`, `store`, `search`, `uidSearch`, `copy`, `move`, `expunge`, `uidExpunge`, `closeMailbox`, `unselect`, `mailbox`, `idle` |
 *
 * Extension commands check the capabilities learned over TLS first: a missing one is `ImapError`
 * `MissingCapability` with nothing written; fallbacks (MOVE as COPY + STORE + EXPUNGE, IDLE as
 * NOOP polling) run only when the caller asks for them.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const imap = yield* ImapClient.session({ host: "mail.example.com", port: 143, credentials })
 *   const inbox = yield* ImapClient.select(imap, "INBOX")
 *   yield* ImapClient.fetch(inbox, SequenceSet.range(1, "*"), { uid: true, envelope: true }).pipe(
 *     Stream.runForEach((message) => Console.log(message.uid, message.envelope?.subject))
 *   )
 * }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
 * ```
 *
 * Security (DESIGN.md S1-S12, ATTACKS.md): TLS is required by default (core); under it STARTTLS is
 * sent straight after the greeting and the capabilities are asked again over TLS; a plaintext
 * `PREAUTH` is refused (`PreauthOnPlaintext`), an implicit-TLS one gives an Authenticated handle
 * without credentials; LOGIN is never sent while LOGINDISABLED is advertised; untagged data that
 * arrives before TLS never reaches the mailbox view or the event stream, plaintext ALERTs become
 * `SecurityEvents` `UntrustedPlaintextNotice`s and referrals are reported, never followed. Server
 * text is only ever in `untrusted*` fields.
 *
 * Round trips: capabilities from the greeting (implicit TLS) and from the tagged OK of the
 * authentication are used; AUTHENTICATE carries the initial response (SASL-IR); `session` with one
 * client-first mechanism named (e.g. `authenticate: { mechanisms: ["PLAIN"] }`) pipelines the
 * AUTHENTICATE with the post-TLS CAPABILITY.
 *
 * Pipelining (RFC 9051 §5.5): `noop`, `list`, `status`, `deleteMailbox`, `rename`, `subscribe`,
 * `unsubscribe`, `fetchAll`, `store`, `search`, `uidSearch`, `copy` and `move` run concurrently on
 * one connection are written without waiting for each other's replies, which are matched by tag:
 * `Effect.all(names.map((name) => ImapClient.status(imap, name)), { concurrency: "unbounded" })` is
 * one write and about one round trip. Commands that change the selection or the message numbering
 * (`move` among them), a command with sequence numbers after one that may expunge, and commands
 * whose untagged answers could be confused (two `list`s, two `search`es, overlapping FETCH sets, two
 * `status` of one mailbox) wait for the ones in flight; every other operation (`select`, `append`,
 * `expunge`, the `fetch` / `download` streams, `idle` ...) runs alone. An interrupted caller leaves
 * the connection in step (its reply is read and dropped).
 *
 * @since 0.1.0
 */
import * as Compression from "@starttls/core/Compression"
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import * as MailError from "@starttls/core/MailError"
import * as Sasl from "@starttls/core/Sasl"
import type * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ImapCapabilities from "./ImapCapabilities.ts"
import type * as ImapCommand from "./ImapCommand.ts"
import * as ImapDialect from "./ImapDialect.ts"
import * as ImapError from "./ImapError.ts"
import * as ImapMailbox from "./ImapMailbox.ts"
import * as Command from "./internal/client/command.ts"
import * as Extensions from "./internal/client/extensions.ts"
import * as Compress from "./internal/client/compress.ts"
import * as Fetch from "./internal/client/fetch.ts"
import { authenticatedOf, connectionOf, pipelined } from "./internal/client/handles.ts"
import * as Idle from "./internal/client/idle.ts"
import * as Mailboxes from "./internal/client/mailboxes.ts"
import * as Messages from "./internal/client/messages.ts"
import * as Pipeline from "./internal/client/pipeline.ts"
import * as State from "./internal/client/state.ts"
import type * as SearchCriteria from "./SearchCriteria.ts"
import * as SequenceSet from "./SequenceSet.ts"

// -----------------------------------------------------------------------------
// Handles
// -----------------------------------------------------------------------------

/**
 * An IMAP connection in security state `S`.
 *
 * @category models
 * @since 0.1.0
 */
export type ImapConnection<S extends Connection.State> = Connection.Connection<
  S,
  ImapDialect.Frame,
  ImapDialect.Caps
>

/**
 * IMAP's Selected state (RFC 9051 §3.3): a mailbox is selected on an authenticated connection.
 * The handle is valid until another SELECT / EXAMINE, CLOSE or UNSELECT (then it fails with
 * `StaleConnection`); `connection` stays usable for the Authenticated-state operations.
 *
 * @category models
 * @since 0.1.0
 */
export interface Selected {
  readonly state: "Selected"
  readonly connection: ImapConnection<"Authenticated">
  /** The selection this handle belongs to. */
  readonly id: number
  /** What SELECT / EXAMINE reported (the live view: `mailbox`). */
  readonly status: ImapMailbox.MailboxStatus
  /** With `qresync`: what changed since the known state (RFC 7162 §3.2.5.1). */
  readonly resync?: Resync | undefined
}

/**
 * A handle on which Authenticated-state commands are allowed (RFC 9051 §6.3: also in Selected).
 *
 * @category models
 * @since 0.1.0
 */
export type Authenticated = ImapConnection<"Authenticated"> | Selected

/**
 * Any handle.
 *
 * @category models
 * @since 0.1.0
 */
export type Any = ImapConnection<"Plain"> | ImapConnection<"Secure"> | Authenticated

/**
 * Where and how to connect (core's options), plus the IMAP dialect's streaming threshold.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Connection.Options, ImapDialect.Options {}

/**
 * `session` options.
 *
 * @category models
 * @since 0.1.0
 */
export interface SessionOptions<E> extends Options {
  readonly credentials: Credentials.Credentials<E>
  readonly authenticate?: Connection.AuthenticateOptions | undefined
  /**
   * After authentication, start COMPRESS=DEFLATE (RFC 4978) when the connection is encrypted and
   * the server advertises it; a refusal leaves the session uncompressed (see `compress` for the
   * strict form, `isCompressed` to check). Default false.
   */
  readonly compress?: boolean | undefined
}

const dialectFor = (options: ImapDialect.Options) =>
  options.streamLiteralsAbove === undefined ? ImapDialect.dialect : ImapDialect.make(options)

/** Settles and publishes after core opened a connection; ends the event hub with the scope. */
const opened = <H extends ImapConnection<Connection.State>>(handle: H): Effect.Effect<H, never, Scope.Scope> =>
  Effect.gen(function*() {
    const state = State.of(handle.session)
    yield* Effect.addFinalizer(() => State.end(handle.session, state))
    yield* State.flush(handle.session, state)
    return handle
  })

// -----------------------------------------------------------------------------
// Connecting and authenticating
// -----------------------------------------------------------------------------

/**
 * Opens a STARTTLS-mode connection (the handle is `Plain`). A `PREAUTH` greeting fails with
 * `PreauthOnPlaintext` before any command is written (S6, ATTACKS.md A6); a `BYE` greeting with
 * `GreetingRejected` (text untrusted).
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = (
  options: Omit<Options, "security">
): Effect.Effect<ImapConnection<"Plain">, MailError.MailError, Transport | Scope.Scope> =>
  Effect.flatMap(Connection.connect(dialectFor(options), options), opened).pipe(Effect.withSpan("Imap.connect"))

/**
 * Opens an implicit-TLS connection (993): `Secure`, or `Authenticated` after a `PREAUTH` greeting
 * (no credentials are sent, ATTACKS.md A26 c). The greeting's capabilities came over TLS and are
 * used.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectTls = (
  options: Omit<Options, "security">
): Effect.Effect<
  ImapConnection<"Secure"> | ImapConnection<"Authenticated">,
  MailError.MailError,
  Transport | Scope.Scope
> => Effect.flatMap(Connection.connectTls(dialectFor(options), options), opened).pipe(Effect.withSpan("Imap.connectTls"))

/**
 * Opens a connection and makes it secure as the policy says: implicit TLS, or STARTTLS (required:
 * not offered, refused or failing is an error).
 *
 * @category constructors
 * @since 0.1.0
 */
export const secure = (
  options: Options
): Effect.Effect<
  ImapConnection<"Secure"> | ImapConnection<"Authenticated">,
  MailError.MailError,
  Transport | Scope.Scope
> => Effect.flatMap(Connection.secure(dialectFor(options), options), opened).pipe(Effect.withSpan("Imap.secure"))

/**
 * DANGEROUS (needs `TlsPolicy.OpportunisticStartTls`): like `secure`, but carries on in plaintext
 * when STARTTLS is not offered or is refused (a `Downgrade` event). The handle then stays `Plain`:
 * credentials still need `TlsPolicy.PlaintextAuth`, and LOGINDISABLED is still honoured.
 *
 * @category constructors
 * @since 0.1.0
 */
export const opportunistic = (
  options: Omit<Options, "security">
): Effect.Effect<
  ImapConnection<"Plain"> | ImapConnection<"Secure">,
  MailError.MailError,
  Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
> =>
  Effect.flatMap(Connection.opportunistic(dialectFor(options), options), opened).pipe(
    Effect.withSpan("Imap.opportunistic")
  )

/**
 * STARTTLS (RFC 9051 §6.2.1): only the tagged OK starts TLS, nothing may follow it in plaintext
 * (S3), and the capabilities are asked again over TLS (S4). Consumes the Plain handle.
 *
 * @category combinators
 * @since 0.1.0
 */
export const startTls = (plain: ImapConnection<"Plain">): Effect.Effect<ImapConnection<"Secure">, MailError.MailError> =>
  Connection.startTls(plain).pipe(
    Effect.ensuring(Effect.suspend(() => State.flush(plain.session, State.of(plain.session)))),
    Effect.withSpan("Imap.startTls")
  )

/**
 * The capabilities as the server states them in plaintext (its greeting's `[CAPABILITY]` code, else
 * a CAPABILITY command, which is allowed before TLS): UNTRUSTED, for display and diagnostics only
 * (a man in the middle can change them, ATTACKS.md A1/A4). Nothing in the library uses them; they
 * are forgotten at STARTTLS (S4).
 *
 * @category getters
 * @since 0.1.0
 */
export const untrustedCapabilities = (
  plain: ImapConnection<"Plain">
): Effect.Effect<ImapCapabilities.ImapCapabilities, MailError.MailError> =>
  Effect.flatMap(Connection.check(plain), (session) =>
    session.plaintextCapabilities !== undefined
      ? Effect.succeed(session.plaintextCapabilities)
      : Connection.queryCapabilities(plain)).pipe(
      Effect.ensuring(Effect.suspend(() => State.flush(plain.session, State.of(plain.session))))
    )

/** After authentication: capabilities not announced with the success are asked for again later. */
const authenticated = (connection: ImapConnection<"Authenticated">) =>
  Effect.suspend(() => {
    const session = connection.session
    const state = State.of(session)
    // RFC 9051 §6.2.2: without a CAPABILITY code the capabilities may have changed: ask when needed.
    if (state.authCapabilities === undefined) session.capabilities = undefined
    state.authCapabilities = undefined
    return State.flush(session, state)
  })

/**
 * AUTHENTICATE (RFC 9051 §6.2.2) with the strongest SASL mechanism both sides offer, from the
 * capabilities learned over TLS (S11), with the initial response when SASL-IR is advertised. The
 * capabilities of the tagged OK's `[CAPABILITY]` code are used. On a Plain handle this needs
 * `TlsPolicy.PlaintextAuth` (S2).
 *
 * @category combinators
 * @since 0.1.0
 */
export const authenticate = <S extends "Plain" | "Secure", E = never>(
  connection: ImapConnection<S>,
  credentials: Credentials.Credentials<E>,
  options?: Connection.AuthenticateOptions
): Effect.Effect<ImapConnection<"Authenticated">, E | MailError.MailError, TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>> =>
  Connection.authenticate(connection, credentials, options).pipe(
    Effect.tap(authenticated),
    Effect.withSpan("Imap.authenticate")
  )

const loginCapabilities = (connection: ImapConnection<"Plain"> | ImapConnection<"Secure">) =>
  Effect.flatMap(Connection.check(connection), (session) => {
    if (session.state === "Plain") {
      const known = session.plaintextCapabilities
      return known !== undefined ? Effect.succeed(known) : Connection.queryCapabilities(connection)
    }
    return Connection.capabilities(connection as ImapConnection<"Secure">)
  })

/**
 * The LOGIN command (RFC 9051 §6.2.3). Refused (`PolicyViolation`, nothing sent) when the server
 * advertises LOGINDISABLED, on any connection (S11, ATTACKS.md A5); on a Plain handle it needs
 * `TlsPolicy.PlaintextAuth` (S2). Prefer `authenticate`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const login = <S extends "Plain" | "Secure">(
  connection: ImapConnection<S>,
  username: string,
  password: Redacted.Redacted<string>
): Effect.Effect<
  ImapConnection<"Authenticated">,
  ImapError.ImapError | MailError.MailError,
  TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>
> =>
  Effect.gen(function*() {
    const caps = yield* loginCapabilities(connection as ImapConnection<"Plain"> | ImapConnection<"Secure">)
    if (caps.loginDisabled) {
      return yield* MailError.make(
        new MailError.PolicyViolation({ detail: "the server advertises LOGINDISABLED: the LOGIN command is not sent" })
      )
    }
    const next = yield* Connection.authorize(connection, "LOGIN", (session) => {
      const state = State.of(session)
      state.authCapabilities = undefined
      return Command.run(session, { _tag: "Login", user: username, password }, {
        name: "LOGIN",
        phase: "authenticate",
        onUntagged: (response) => {
          if (response._tag !== "Capability") return false
          state.authCapabilities = ImapCapabilities.make(response.capabilities)
          return true
        }
      }).pipe(
        Effect.map((reply) => {
          const code = reply.code
          if (code !== undefined && code._tag === "CAPABILITY") {
            state.authCapabilities = ImapCapabilities.make(code.capabilities)
          }
          return state.authCapabilities
        }),
        Effect.catchReason("ImapError", "No", (no) =>
          Effect.fail(MailError.make(
            new MailError.AuthenticationFailed({
              mechanism: "LOGIN",
              code: no.code,
              detail: "the server rejected the credentials",
              untrustedReply: no.untrustedText
            })
          )))
      )
    })
    yield* authenticated(next)
    return next
  }).pipe(Effect.withSpan("Imap.login")) as Effect.Effect<
    ImapConnection<"Authenticated">,
    ImapError.ImapError | MailError.MailError,
    // The PlaintextAuth requirement comes from `authorize`, only on a Plain handle.
    TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>
  >

// Mechanisms of `Sasl.offerIndependent` whose first message completes the client's side: safe to
// send without waiting.
const PIPELINABLE: ReadonlySet<string> = new Set(["PLAIN", "EXTERNAL", "XOAUTH2", "OAUTHBEARER"])

/** Resolved credentials as credentials again (a fetched token is not fetched twice). */
const asCredentials = (resolved: Credentials.Resolved): Credentials.Credentials =>
  resolved._tag === "Bearer" ? Credentials.oauth2({ username: resolved.username, token: resolved.token }) : resolved

const pipelinedSession = <E>(
  plain: ImapConnection<"Plain">,
  mechanism: string,
  options: SessionOptions<E>
): Effect.Effect<ImapConnection<"Authenticated">, E | MailError.MailError> =>
  Effect.gen(function*() {
    const session = plain.session
    const state = State.of(session)
    const resolved = yield* Credentials.resolve(options.credentials)
    const initial = Sasl.start(mechanism, {
      credentials: resolved,
      initialResponse: true,
      offered: [mechanism],
      host: session.host,
      port: session.port
    })
    if (Result.isSuccess(initial) && initial.success.response !== undefined) {
      state.pipelined = { mechanism, initial: initial.success.response }
    }
    const tls = yield* startTls(plain)
    state.pipelined = undefined
    return yield* authenticate(tls, asCredentials(resolved), { mechanisms: [mechanism] }).pipe(
      Effect.tapError(() =>
        // An AUTHENTICATE was written whose reply nobody will read: the session's state is unknown.
        state.pipelinedTag === undefined ? Effect.void : Connection.abandon(session)
      )
    )
  })

/**
 * The common case in one call: connect, secure (implicit TLS or required STARTTLS) and
 * authenticate; an implicit-TLS `PREAUTH` session is returned as it is.
 *
 * When `authenticate.mechanisms` names exactly one client-first mechanism (PLAIN, EXTERNAL,
 * XOAUTH2, OAUTHBEARER), its AUTHENTICATE is written over TLS in the same write as the post-TLS
 * CAPABILITY, saving a round trip (RFC 9051 §5.5 command pipelining). Nothing learned in plaintext
 * is used for it: the mechanism is the caller's choice, and it is sent only after the STARTTLS OK
 * and a verified handshake. If the post-TLS capabilities do not offer it, the exchange fails
 * (`NoUsableMechanism`) and the connection is closed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const session = <E = never>(
  options: SessionOptions<E>
): Effect.Effect<ImapConnection<"Authenticated">, E | MailError.MailError, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* Effect.flatMap(Connection.open(dialectFor(options), options), opened)
    switch (connection.state) {
      case "Authenticated":
        return connection as ImapConnection<"Authenticated">
      case "Secure":
        return yield* authenticate(connection as ImapConnection<"Secure">, options.credentials, options.authenticate)
      case "Plain": {
        const plain = connection as ImapConnection<"Plain">
        const mechanism = Sasl.independentOf(options.authenticate?.mechanisms)
        if (mechanism !== undefined && PIPELINABLE.has(mechanism)) {
          return yield* pipelinedSession(plain, mechanism, options)
        }
        const tls = yield* startTls(plain)
        return yield* authenticate(tls, options.credentials, options.authenticate)
      }
    }
  }).pipe(
    Effect.tap((imap) => (options.compress === true ? Compress.ifOffered(imap) : Effect.void)),
    Effect.withSpan("Imap.session")
  )

/**
 * The capabilities learned over TLS (or from the authentication's OK), asked for when not known.
 *
 * @category getters
 * @since 0.1.0
 */
export const capabilities = (
  handle: ImapConnection<"Secure"> | Authenticated
): Effect.Effect<ImapCapabilities.ImapCapabilities, MailError.MailError> => {
  const connection = "id" in handle ? handle.connection : handle
  // A query takes the lock: announced like any operation that runs alone (an IDLE gives way).
  return Pipeline.exclusive(connection.session, () => Connection.capabilities(connection)).pipe(
    Effect.ensuring(Effect.suspend(() => State.flush(connection.session, State.of(connection.session))))
  )
}

/**
 * NOOP (RFC 9051 §6.1.2): lets the server report mailbox changes (to the view and `events`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const noop = (handle: Any): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  pipelined(handle, (_session, _state, send) => Effect.asVoid(send({ _tag: "Noop" }, { name: "NOOP" }))).pipe(
    Effect.withSpan("Imap.noop")
  )

/**
 * LOGOUT (RFC 9051 §6.1.3), then closes the connection; every handle is stale afterwards and the
 * event streams end.
 *
 * @category destructors
 * @since 0.1.0
 */
export const logout = (handle: Any): Effect.Effect<void> =>
  Effect.gen(function*() {
    const connection = connectionOf(handle)
    // Announced like any operation that runs alone: an IDLE in progress ends its cycle for it.
    yield* Pipeline.exclusive(connection.session, () => Connection.close(connection))
    yield* State.end(connection.session, State.of(connection.session))
  }).pipe(Effect.withSpan("Imap.logout"))

/**
 * The mailbox events of the connection (see `ImapMailbox.ImapEvent`): the subscription is made
 * when this effect runs, the stream ends at `logout` or when the connection's scope closes. The
 * first subscription also gets the events that happened before it (at most 4096, the oldest
 * dropped); later ones get events from their subscription on. Solicited results (FETCH / STORE
 * replies) are not events; EXPUNGEs always are. Events are kept in a bounded buffer: a consumer that
 * falls more than 4096 behind loses the oldest (the mailbox view is always complete).
 *
 * @category getters
 * @since 0.1.0
 */
export const events = (handle: Any): Effect.Effect<Stream.Stream<ImapMailbox.ImapEvent>, MailError.MailError, Scope.Scope> =>
  Effect.gen(function*() {
    const session = yield* Connection.check(connectionOf(handle))
    const state = State.of(session)
    const hub = yield* State.hub(state)
    const subscription = yield* PubSub.subscribe(hub)
    // The events kept while nobody had subscribed go to this (first) subscriber.
    yield* State.flush(session, state)
    return Stream.fromSubscription(subscription).pipe(Stream.takeWhile(State.isEvent))
  })

// -----------------------------------------------------------------------------
// Compression (RFC 4978)
// -----------------------------------------------------------------------------

/**
 * Options of `compress`.
 *
 * @category models
 * @since 0.1.0
 */
export interface CompressOptions {
  /**
   * Compress a connection that is not encrypted (it is plaintext after authentication only under a
   * dangerous policy). Emits a `SecurityEvents` `Downgrade` warning. Default false.
   */
  readonly allowWithoutTls?: boolean | undefined
}

/**
 * COMPRESS=DEFLATE (RFC 4978): from the byte after the tagged OK, both directions are raw DEFLATE
 * for the rest of the connection (every write flushed on its own; received data inflated in
 * bounded pieces, a decompression bomb ends in `LimitExceeded`, a corrupt stream in
 * `ProtocolViolation`). Only after authentication, only over TLS unless `allowWithoutTls`, and
 * only when the server advertises COMPRESS=DEFLATE (`MissingCapability` otherwise, nothing
 * written); a second call is a `PolicyViolation`. The command runs alone (nothing else in flight):
 * concurrent operations wait for it. A tagged NO / BAD is `MailError` `CompressionRejected` (`code`
 * "NO", "BAD" or "NO COMPRESSIONACTIVE"; text untrusted) and the connection carries on uncompressed.
 *
 * @category combinators
 * @since 0.1.0
 */
export const compress = (
  handle: Authenticated,
  options?: CompressOptions
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Compress.compress(authenticatedOf(handle), options).pipe(Effect.withSpan("Imap.compress"))

/**
 * Whether the connection behind a handle is compressed (COMPRESS=DEFLATE active).
 *
 * @category getters
 * @since 0.1.0
 */
export const isCompressed = (handle: Any): boolean => Compression.isActive(connectionOf(handle))

// -----------------------------------------------------------------------------
// Mailboxes
// -----------------------------------------------------------------------------

/**
 * Options of SELECT / EXAMINE.
 *
 * @category models
 * @since 0.1.0
 */
export interface SelectOptions {
  /** Enables CONDSTORE for the mailbox (RFC 7162 §3.1.8); needs the capability. */
  readonly condstore?: boolean | undefined
  /**
   * Quick resynchronization (RFC 7162 §3.2.5): what the client knew (UIDVALIDITY, the highest
   * mod-sequence it saw, optionally its known UIDs). The server reports what changed since in the
   * result's `resync`. Needs QRESYNC advertised and enabled (`enable(handle, ["QRESYNC"])`), and
   * is ignored by the server when `uidValidity` does not match.
   */
  readonly qresync?: ImapCommand.QResync | undefined
}

/**
 * SELECT (RFC 9051 §6.3.2): opens a mailbox read-write and returns its status in a `Selected`
 * handle. A failed SELECT leaves no mailbox selected (the previous `Selected` handle is stale).
 *
 * @category combinators
 * @since 0.1.0
 */
export const select = (
  handle: Authenticated,
  mailbox: string,
  options?: SelectOptions
): Effect.Effect<Selected, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.open(handle, mailbox, false, options).pipe(Effect.withSpan("Imap.select"))


/**
 * EXAMINE (RFC 9051 §6.3.3): opens a mailbox read-only.
 *
 * @category combinators
 * @since 0.1.0
 */
export const examine = (
  handle: Authenticated,
  mailbox: string,
  options?: SelectOptions
): Effect.Effect<Selected, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.open(handle, mailbox, true, options).pipe(Effect.withSpan("Imap.examine"))


/**
 * CLOSE (RFC 9051 §6.4.1): removes the messages marked `\Deleted` (read-write mailboxes, without
 * EXPUNGE responses) and returns to the Authenticated state.
 *
 * @category combinators
 * @since 0.1.0
 */
export const closeMailbox = (
  handle: Selected
): Effect.Effect<ImapConnection<"Authenticated">, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.leave(handle, "Close").pipe(Effect.withSpan("Imap.closeMailbox"))


/**
 * UNSELECT (RFC 3691, RFC 9051 §6.4.2): returns to the Authenticated state without expunging.
 * Needs UNSELECT (or IMAP4rev2).
 *
 * @category combinators
 * @since 0.1.0
 */
export const unselect = (
  handle: Selected
): Effect.Effect<ImapConnection<"Authenticated">, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.leave(handle, "Unselect").pipe(Effect.withSpan("Imap.unselect"))


/**
 * The current view of the selected mailbox (status kept current by the server's responses, and
 * the messages whose UID / flags it reported).
 *
 * @category getters
 * @since 0.1.0
 */
export const mailbox = (handle: Selected): Effect.Effect<ImapMailbox.View, MailError.MailError> =>
  Effect.flatMap(Connection.check(handle.connection), (session) => Mailboxes.view(handle, session))


/**
 * Options of `list`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ListOptions {
  /** Default "". */
  readonly reference?: string | undefined
  /** Default "*" (everything). */
  readonly pattern?: string | ReadonlyArray<string> | undefined
  /** Only subscribed mailboxes (LIST (SUBSCRIBED) with LIST-EXTENDED, else LSUB). */
  readonly subscribed?: boolean | undefined
}

/**
 * LIST (RFC 9051 §6.3.9) with special-use attributes (RFC 6154: asked for with
 * `RETURN (SPECIAL-USE)` when SPECIAL-USE and LIST-EXTENDED are advertised, else as the server
 * marks them). Only the responses to this command are returned.
 *
 * @category combinators
 * @since 0.1.0
 */
export const list = (
  handle: Authenticated,
  options?: ListOptions
): Effect.Effect<ReadonlyArray<ImapMailbox.ListEntry>, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.list(handle, options).pipe(Effect.withSpan("Imap.list"))


/**
 * STATUS (RFC 9051 §6.3.11) of a mailbox (default items: MESSAGES UIDNEXT UIDVALIDITY UNSEEN).
 *
 * @category combinators
 * @since 0.1.0
 */
export const status = (
  handle: Authenticated,
  mailbox: string,
  items: ReadonlyArray<ImapCommand.StatusItem> = Mailboxes.DEFAULT_STATUS
): Effect.Effect<ImapMailbox.StatusResult, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.status(handle, mailbox, items).pipe(Effect.withSpan("Imap.status"))


/**
 * CREATE (RFC 9051 §6.3.4), optionally with special-use attributes (RFC 6154 §3: `CREATE name
 * (USE (\Sent))`), which needs CREATE-SPECIAL-USE (`MissingCapability` otherwise, nothing
 * written). A server that cannot give the mailbox that use answers `NO [USEATTR]`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const create = (
  handle: Authenticated,
  mailbox: string,
  options?: {
    readonly specialUse?: ImapMailbox.SpecialUse | ReadonlyArray<ImapMailbox.SpecialUse> | undefined
  }
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Extensions.create(handle, mailbox, options?.specialUse).pipe(Effect.withSpan("Imap.create"))

/**
 * DELETE (RFC 9051 §6.3.5).
 *
 * @category combinators
 * @since 0.1.0
 */
export const deleteMailbox = (
  handle: Authenticated,
  mailbox: string
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.simple(handle, { _tag: "Delete", mailbox }, "DELETE").pipe(Effect.withSpan("Imap.deleteMailbox"))

/**
 * RENAME (RFC 9051 §6.3.6).
 *
 * @category combinators
 * @since 0.1.0
 */
export const rename = (
  handle: Authenticated,
  from: string,
  to: string
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.simple(handle, { _tag: "Rename", from, to }, "RENAME").pipe(Effect.withSpan("Imap.rename"))

/**
 * SUBSCRIBE (RFC 9051 §6.3.7).
 *
 * @category combinators
 * @since 0.1.0
 */
export const subscribe = (
  handle: Authenticated,
  mailbox: string
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.simple(handle, { _tag: "Subscribe", mailbox }, "SUBSCRIBE").pipe(Effect.withSpan("Imap.subscribe"))

/**
 * UNSUBSCRIBE (RFC 9051 §6.3.8).
 *
 * @category combinators
 * @since 0.1.0
 */
export const unsubscribe = (
  handle: Authenticated,
  mailbox: string
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.simple(handle, { _tag: "Unsubscribe", mailbox }, "UNSUBSCRIBE").pipe(Effect.withSpan("Imap.unsubscribe"))

/**
 * A message to append: its bytes, or a stream of exactly `size` bytes (written as it is pulled,
 * never buffered whole).
 *
 * @category models
 * @since 0.1.0
 */
export type AppendMessage<E = never> =
  | Uint8Array
  | { readonly size: number; readonly stream: Stream.Stream<Uint8Array, E> }

/**
 * Options of `append`.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendOptions {
  readonly flags?: ReadonlyArray<string> | undefined
  readonly internalDate?: Date | undefined
  /**
   * Send the message as `UTF8 (~{n})` (RFC 6855 §4), for UTF-8 header fields; needs UTF-8 mode
   * (`enable(handle, ["UTF8=ACCEPT"])`). Default: when UTF-8 mode is on and the message is given
   * as bytes whose header has 8-bit octets.
   */
  readonly utf8?: boolean | undefined
}

/**
 * What APPEND reported: the new message's UID when the server has UIDPLUS (RFC 4315 APPENDUID).
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendResult {
  readonly uidValidity: number | undefined
  readonly uid: number | undefined
}

/**
 * APPEND (RFC 9051 §6.3.12): stores a message. The literal is non-synchronizing with LITERAL+ (or
 * LITERAL- / IMAP4rev2 up to 4 KiB), otherwise the client waits for the server's "+" before
 * sending it. The message counts as stored only after the tagged OK (S12); a stream that does not
 * give `size` bytes fails with `SizeMismatch` and closes the connection.
 *
 * @category combinators
 * @since 0.1.0
 */
export const append = <E = never>(
  handle: Authenticated,
  mailbox: string,
  message: AppendMessage<E>,
  options?: AppendOptions
): Effect.Effect<AppendResult, E | ImapError.ImapError | MailError.MailError> =>
  Mailboxes.append(handle, mailbox, message, options).pipe(Effect.withSpan("Imap.append"))

// -----------------------------------------------------------------------------
// Messages (Selected state)
// -----------------------------------------------------------------------------

/**
 * What to fetch. `uid` is implied by a UID FETCH.
 *
 * @category models
 * @since 0.1.0
 */
export interface FetchQuery {
  readonly uid?: boolean | undefined
  readonly flags?: boolean | undefined
  readonly envelope?: boolean | undefined
  readonly bodyStructure?: boolean | undefined
  readonly internalDate?: boolean | undefined
  /** RFC822.SIZE. */
  readonly size?: boolean | undefined
  /** MODSEQ (CONDSTORE). */
  readonly modseq?: boolean | undefined
  /** The whole message, BODY.PEEK[] (does not set `\Seen`). */
  readonly source?: boolean | undefined
  /** The header, BODY.PEEK[HEADER], or only the named fields (BODY.PEEK[HEADER.FIELDS (...)]). */
  readonly headers?: boolean | ReadonlyArray<string> | undefined
  /** Further sections (results in `attributes.bodySections` / `binarySections`). */
  readonly sections?: ReadonlyArray<ImapCommand.BodySection | ImapCommand.BinarySection> | undefined
}

/**
 * One fetched message. Fields not asked for are `undefined`; `attributes` has everything the
 * server sent (sections the parser streamed filled in).
 *
 * @category models
 * @since 0.1.0
 */
export type FetchedMessage = Fetch.Message

/**
 * Options of FETCH-like commands.
 *
 * @category models
 * @since 0.1.0
 */
export interface FetchOptions {
  /** The set is UIDs (UID FETCH, RFC 9051 §6.4.9). */
  readonly uid?: boolean | undefined
  /** CHANGEDSINCE (RFC 7162 §3.1.4.1): only messages whose mod-sequence is higher. */
  readonly changedSince?: bigint | number | undefined
  /**
   * VANISHED (RFC 7162 §3.2.6), with `uid` and `changedSince`, once QRESYNC is enabled: the server
   * also reports the UIDs of the set expunged since that mod-sequence, as `* VANISHED (EARLIER)`,
   * delivered as `Vanished` events (`earlier: true`; the view is not changed by them).
   */
  readonly vanished?: boolean | undefined
}

/**
 * FETCH / UID FETCH (RFC 9051 §6.4.5): the messages as a `Stream`, each as soon as its response is
 * complete. The connection is held until the reply ends; stopping early reads and drops the rest.
 * Bodies are buffered per message (bounded by `maxLiteralSize`); for constant-memory transfer of a
 * big body use `download`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fetch = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  query: FetchQuery,
  options?: FetchOptions
): Stream.Stream<FetchedMessage, ImapError.ImapError | MailError.MailError> =>
  Stream.unwrap(Effect.as(
    Extensions.checkFetch(handle, query, options),
    Fetch.messages(
      Messages.acquireSelection(handle),
      Messages.fetchCommand(set, Messages.fetchItems(query, options?.uid === true), options)
    )
  ))

/**
 * FETCH / UID FETCH (RFC 9051 §6.4.5) into memory: the messages of the reply, in the server's
 * order (bodies bounded by `maxLiteralSize` each, the whole result by nothing: use `fetch`, a
 * Stream, for big result sets). Unlike `fetch` it does not hold the connection while the result is
 * consumed, so concurrent `fetchAll`, `store`, `search`, `status` ... calls are pipelined.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fetchAll = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  query: FetchQuery,
  options?: FetchOptions
): Effect.Effect<ReadonlyArray<FetchedMessage>, ImapError.ImapError | MailError.MailError> =>
  Effect.andThen(
    Extensions.checkFetch(handle, query, options),
    Messages.fetchAll(handle, Messages.fetchCommand(set, Messages.fetchItems(query, options?.uid === true), options))
  ).pipe(Effect.withSpan("Imap.fetchAll"))

/**
 * One message (or one of its sections) as a stream of bytes at constant memory, however big: the
 * literal's bytes go downstream as they arrive (BODY.PEEK, `\Seen` is not set). `id` is a sequence
 * number, or a UID with `uid: true`. A message that does not exist (or was expunged meanwhile, its
 * section `NIL`) fails with `ImapError` `NotFound`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const download = (
  handle: Selected,
  id: number,
  options?: DownloadOptions
): Stream.Stream<Uint8Array, ImapError.ImapError | MailError.MailError> =>
  Fetch.bytes(Messages.acquireSelection(handle), downloadCommand(id, options))

/**
 * Options of `download` / `downloadEach`: `id` is a UID with `uid: true`; `part` / `specifier`
 * pick a section (RFC 9051 §6.4.5), default the whole message.
 *
 * @category models
 * @since 0.1.0
 */
export interface DownloadOptions {
  readonly uid?: boolean | undefined
  readonly part?: ReadonlyArray<number> | undefined
  readonly specifier?: ImapCommand.SectionSpecifier | undefined
}

const downloadCommand = (id: number, options: DownloadOptions | undefined): ImapCommand.Fetch => {
  const section: ImapCommand.BodySection = {
    _tag: "BodySection",
    peek: true,
    ...(options?.part === undefined ? {} : { part: options.part }),
    ...(options?.specifier === undefined ? {} : { specifier: options.specifier })
  }
  const items: Array<ImapCommand.FetchItem> = options?.uid === true ? ["UID", section] : [section]
  return Messages.fetchCommand(SequenceSet.single(id), items, options)
}

/**
 * `download` with lent chunks, for big messages: runs `f` on each chunk in order, and gives the
 * chunk's memory back as soon as `f`'s effect for it completes — the chunk is detached afterwards,
 * so keeping it gives an empty array: copy what you keep (`new Uint8Array(chunk)`; a Node
 * `Buffer#slice` is a view). Peak memory then stays a few reads' worth whatever the size and
 * however rarely the garbage collector runs (with `download`, chunks the consumer dropped stay
 * resident until the next collection). The reads that arrived together are handed over as one
 * chunk (copied into a buffer of its own: one `f` per batch, not per TLS record); a single read is
 * handed over as it is, and released only over TLS (or COMPRESS), where this process made it.
 *
 * @category combinators
 * @since 0.1.0
 */
export const downloadEach = <E, R>(
  handle: Selected,
  id: number,
  f: (chunk: Uint8Array) => Effect.Effect<void, E, R>,
  options?: DownloadOptions
): Effect.Effect<void, ImapError.ImapError | MailError.MailError | E, R> =>
  Fetch.bytesEach(Messages.acquireSelection(handle), downloadCommand(id, options), f).pipe(
    Effect.withSpan("Imap.downloadEach")
  )

/**
 * How STORE changes flags: add (+FLAGS), remove (-FLAGS) or replace (FLAGS).
 *
 * @category models
 * @since 0.1.0
 */
export type StoreAction = "add" | "remove" | "replace"

/**
 * Options of `store`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreOptions {
  readonly uid?: boolean | undefined
  /** `.SILENT`: the server sends no FETCH back (the result is then empty). */
  readonly silent?: boolean | undefined
}

/**
 * Options of a conditional STORE (RFC 7162 §3.1.3, needs CONDSTORE): only messages whose
 * mod-sequence is at most `unchangedSince` are changed.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConditionalStoreOptions extends StoreOptions {
  readonly unchangedSince: bigint | number
}

/**
 * What a conditional STORE did: the messages the server reported (new flags, unless `silent`, and
 * new mod-sequence), and the MODIFIED set (RFC 7162 §3.1.3): the messages left unchanged because
 * they changed after `unchangedSince` (sequence numbers, or UIDs with `uid`); `undefined` when
 * every message met the condition.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConditionalStoreResult {
  readonly updated: ReadonlyArray<StoreResult & { readonly modseq: bigint | undefined }>
  readonly modified: SequenceSet.SequenceSet | undefined
}

/**
 * A message's flags after STORE.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreResult {
  readonly seq: number
  readonly uid: number | undefined
  readonly flags: ReadonlyArray<string>
}

/**
 * STORE / UID STORE (RFC 9051 §6.4.6): changes flags and returns the new flags the server
 * reported (none with `silent`). The view is updated. With `unchangedSince` (CONDSTORE,
 * `MissingCapability` without it) it is a conditional STORE and returns a
 * `ConditionalStoreResult`: the messages that changed since are not an error but its `modified`.
 *
 * @category combinators
 * @since 0.1.0
 */
export function store(
  handle: Selected,
  set: SequenceSet.SequenceSet,
  action: StoreAction,
  flags: ReadonlyArray<string>,
  options: ConditionalStoreOptions
): Effect.Effect<ConditionalStoreResult, ImapError.ImapError | MailError.MailError>
export function store(
  handle: Selected,
  set: SequenceSet.SequenceSet,
  action: StoreAction,
  flags: ReadonlyArray<string>,
  options?: StoreOptions
): Effect.Effect<ReadonlyArray<StoreResult>, ImapError.ImapError | MailError.MailError>
export function store(
  handle: Selected,
  set: SequenceSet.SequenceSet,
  action: StoreAction,
  flags: ReadonlyArray<string>,
  options?: StoreOptions | ConditionalStoreOptions
): Effect.Effect<ConditionalStoreResult | ReadonlyArray<StoreResult>, ImapError.ImapError | MailError.MailError> {
  const conditional = options !== undefined && "unchangedSince" in options && options.unchangedSince !== undefined
  return Messages.store(handle, set, action, flags, options).pipe(
    Effect.flatMap((stored): Effect.Effect<ConditionalStoreResult | ReadonlyArray<StoreResult>, MailError.MailError> =>
      conditional
        ? Effect.map(
          Extensions.modifiedSet(handle, stored.modified),
          (modified): ConditionalStoreResult => ({ updated: stored.updated, modified })
        )
        : Effect.succeed(stored.results)
    ),
    Effect.withSpan("Imap.store")
  )
}


/**
 * SEARCH / UID SEARCH (RFC 9051 §6.4.4): the matching sequence numbers (or UIDs with `uid`), in
 * the server's order. Non-ASCII strings are sent with CHARSET UTF-8 (or as UTF-8 when enabled).
 * The MODSEQ key (`SearchCriteria.modSeq`, RFC 7162 §3.1.5) needs CONDSTORE.
 *
 * @category combinators
 * @since 0.1.0
 */
export const search = (
  handle: Selected,
  criteria: SearchCriteria.Criterion,
  options?: { readonly uid?: boolean | undefined }
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  Effect.andThen(Extensions.checkSearch(handle, criteria), Messages.search(handle, criteria, options)).pipe(
    Effect.withSpan("Imap.search")
  )


/**
 * SEARCH / UID SEARCH with a MODSEQ key (RFC 7162 §3.1.5): the numbers found, and the highest
 * mod-sequence of those messages as the server reports it (`(MODSEQ n)` after the numbers, or the
 * ESEARCH `MODSEQ` item); `modseq` is `undefined` when nothing was found. Needs CONDSTORE when the
 * criteria use MODSEQ.
 *
 * @category combinators
 * @since 0.1.0
 */
export const searchWithModSeq = (
  handle: Selected,
  criteria: SearchCriteria.Criterion,
  options?: { readonly uid?: boolean | undefined }
): Effect.Effect<
  { readonly numbers: ReadonlyArray<number>; readonly modseq: bigint | undefined },
  ImapError.ImapError | MailError.MailError
> =>
  Effect.andThen(Extensions.checkSearch(handle, criteria), Messages.searchWithModSeq(handle, criteria, options)).pipe(
    Effect.withSpan("Imap.searchWithModSeq")
  )

/**
 * UID SEARCH: `search` returning UIDs.
 *
 * @category combinators
 * @since 0.1.0
 */
export const uidSearch = (
  handle: Selected,
  criteria: SearchCriteria.Criterion
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  search(handle, criteria, { uid: true })

/**
 * What COPY / MOVE reported: the UIDs in the destination when the server has UIDPLUS (RFC 4315
 * COPYUID; sets as sent).
 *
 * @category models
 * @since 0.1.0
 */
export interface CopyResult {
  readonly uidValidity: number | undefined
  readonly sourceUids: string | undefined
  readonly destinationUids: string | undefined
}

/**
 * COPY / UID COPY (RFC 9051 §6.4.7).
 *
 * @category combinators
 * @since 0.1.0
 */
export const copy = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  destination: string,
  options?: { readonly uid?: boolean | undefined }
): Effect.Effect<CopyResult, ImapError.ImapError | MailError.MailError> =>
  Messages.transfer(handle, "Copy", set, destination, options).pipe(Effect.withSpan("Imap.copy"))

/**
 * MOVE / UID MOVE (RFC 6851, RFC 9051 §6.4.8). Needs MOVE (or IMAP4rev2): without it the result
 * is `MissingCapability`, unless the caller asks for the `fallback` (see `MoveOptions`). The moved
 * messages' EXPUNGEs update the view and are events.
 *
 * @category combinators
 * @since 0.1.0
 */
export const move = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  destination: string,
  options?: MoveOptions
): Effect.Effect<CopyResult, ImapError.ImapError | MailError.MailError> =>
  Extensions.move(handle, set, destination, options).pipe(Effect.withSpan("Imap.move"))

/**
 * Options of `move`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MoveOptions {
  /** The set is UIDs (UID MOVE). */
  readonly uid?: boolean | undefined
  /**
   * Without MOVE, emulate it (RFC 6851 §3.3): the exact UIDs are resolved first (UID SEARCH), then
   * UID COPY, UID STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE of exactly those UIDs (needs
   * UIDPLUS), so no other message is touched. Not atomic: a failure half-way can leave the
   * messages copied and still in the source, or marked `\Deleted` (the error says which step).
   */
  readonly fallback?: boolean | undefined
  /**
   * With `fallback` on a server without UIDPLUS: end with a plain EXPUNGE, which also removes
   * every OTHER message marked `\Deleted` in the mailbox. Without it, that server gives
   * `MissingCapability` (UIDPLUS).
   */
  readonly expungeAllDeleted?: boolean | undefined
}

/**
 * EXPUNGE (RFC 9051 §6.4.3): removes the messages marked `\Deleted`; returns the EXPUNGE sequence
 * numbers in the order the server sent them (each relative to the mailbox after the previous one).
 *
 * @category combinators
 * @since 0.1.0
 */
export const expunge = (
  handle: Selected
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  Messages.expungeWith(handle, { _tag: "Expunge" }, "EXPUNGE").pipe(Effect.withSpan("Imap.expunge"))

/**
 * UID EXPUNGE (RFC 4315 §2.1, RFC 9051 §6.4.9): removes only the `\Deleted` messages among `uids`.
 * Needs UIDPLUS (or IMAP4rev2).
 *
 * @category combinators
 * @since 0.1.0
 */
export const uidExpunge = (
  handle: Selected,
  uids: SequenceSet.SequenceSet
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  Effect.flatMap(Connection.check(handle.connection), (session) =>
    Command.capabilitiesOf(session).uidplus
      ? Messages.expungeWith(handle, { _tag: "UidExpunge", set: uids }, "UID EXPUNGE")
      : Effect.fail(ImapError.missingCapability("UID EXPUNGE", "UIDPLUS")))
    .pipe(Effect.withSpan("Imap.uidExpunge"))

// -----------------------------------------------------------------------------
// Extensions: IDLE, ENABLE, ID, NAMESPACE, QRESYNC
// -----------------------------------------------------------------------------

/**
 * Options of `idle`. Durations are effect `Duration.Input`s (`"29 minutes"`, milliseconds ...).
 *
 * @category models
 * @since 0.1.0
 */
export interface IdleOptions {
  /**
   * Restart IDLE (DONE, tagged OK, IDLE) after this long. Default 29 minutes (RFC 2177 §3: servers
   * may drop a client idle for 30); always at least `doneTimeout` before the connection's idle read
   * deadline (`timeouts.idle`, default 29 minutes), so with the defaults every 28.5 minutes.
   */
  readonly restartAfter?: Duration.Input | undefined
  /**
   * How long to wait for the tagged OK after DONE (and, polling, for the NOOP's): past it the
   * connection is taken for dead, closed, and the stream fails with `MailError` `Timeout` (phase
   * `idle`). Default 30 seconds.
   */
  readonly doneTimeout?: Duration.Input | undefined
  /**
   * `"poll"`: on a server without IDLE, send NOOP every `pollInterval` instead of failing with
   * `MissingCapability`.
   */
  readonly fallback?: "poll" | undefined
  /** With `fallback: "poll"`: the NOOP interval. Default 1 minute. */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * IDLE (RFC 2177, RFC 9051 §6.3.13): the selected mailbox's events as the server reports them
 * (EXISTS, EXPUNGE, VANISHED, FETCH flag changes, ...), with the mailbox view kept current; they
 * are also published to `events`. Needs IDLE (`MissingCapability`, or polling with `fallback:
 * "poll"`).
 *
 * A `Stream`: IDLE starts at the first pull and goes on until the stream ends. Other operations
 * on the connection meanwhile are not blocked: IDLE ends its cycle with DONE, the operation runs,
 * and IDLE starts again (if another mailbox was selected meanwhile, the stream fails with
 * `StaleConnection`). Ending the stream (`Stream.take`, interruption ...) sends DONE and waits for
 * the tagged OK (at most `doneTimeout`), so the connection is usable right after. The restart
 * timer and the deadlines run on effect's `Clock`. The stream fails with `Timeout` when the server
 * does not answer DONE in time (dead connection, then closed), `Bye` when the server ends the
 * session. Events are queued (at most 4096, the oldest dropped).
 *
 * ```ts
 * yield* ImapClient.idle(inbox).pipe(
 *   Stream.filter((event) => event._tag === "Exists"),
 *   Stream.take(1),
 *   Stream.runDrain
 * )
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const idle = (
  handle: Selected,
  options?: IdleOptions
): Stream.Stream<ImapMailbox.ImapEvent, ImapError.ImapError | MailError.MailError> =>
  Idle.idle(handle, options).pipe(Stream.withSpan("Imap.idle"))

/**
 * Extensions ENABLE can turn on (RFC 5161; CONDSTORE / QRESYNC RFC 7162, UTF8=ACCEPT RFC 6855,
 * IMAP4rev2 RFC 9051), or any other atom.
 *
 * @category models
 * @since 0.1.0
 */
export type Enableable = "CONDSTORE" | "QRESYNC" | "UTF8=ACCEPT" | "IMAP4rev2" | (string & {})

/**
 * ENABLE (RFC 5161): turns on the listed extensions the server advertises (the others are not
 * sent) and returns those the server ENABLED (only ones asked for count; QRESYNC implies
 * CONDSTORE, RFC 7162 §3.2.3, which is then listed too). UTF8=ACCEPT or IMAP4rev2 switch mailbox
 * names and strings to UTF-8 (RFC 6855 §3). Needs ENABLE (`MissingCapability`); only in the
 * Authenticated state before the connection's first SELECT / EXAMINE (RFC 5161 §3.1: the handle
 * type excludes `Selected`, a later call is `InvalidState`). Nothing to enable sends nothing.
 *
 * @category combinators
 * @since 0.1.0
 */
export const enable = (
  handle: ImapConnection<"Authenticated">,
  capabilities: ReadonlyArray<Enableable>
): Effect.Effect<ReadonlyArray<string>, ImapError.ImapError | MailError.MailError> =>
  Extensions.enable(handle, capabilities).pipe(Effect.withSpan("Imap.enable"))

/**
 * ID (RFC 2971): sends the client's identification (`null` for NIL; at most 30 fields) and returns
 * the server's (`null` for NIL; untrusted text). Needs ID (`MissingCapability`). Only ever sent
 * over TLS: there is no Plain-handle form, and an Authenticated connection that is not encrypted
 * (plaintext authentication under the dangerous policy) is refused with `MailError`
 * `PolicyViolation`, nothing written.
 *
 * @category combinators
 * @since 0.1.0
 */
export const id = (
  handle: ImapConnection<"Secure"> | Authenticated,
  fields: Readonly<Record<string, string | null>> | null
): Effect.Effect<Readonly<Record<string, string | null>> | null, ImapError.ImapError | MailError.MailError> =>
  Extensions.id(handle, fields).pipe(Effect.withSpan("Imap.id"))

/**
 * One namespace (RFC 2342 §5): `prefix` decoded (modified UTF-7 or UTF-8), `wirePrefix` as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface NamespaceEntry {
  readonly prefix: string
  readonly wirePrefix: string
  readonly delimiter: string | null
  readonly extensions: ReadonlyArray<{ readonly name: string; readonly values: ReadonlyArray<string> }>
}

/**
 * The NAMESPACE response (RFC 2342 §5): the user's own mailboxes, other users', shared ones (NIL
 * is an empty list).
 *
 * @category models
 * @since 0.1.0
 */
export interface Namespaces {
  readonly personal: ReadonlyArray<NamespaceEntry>
  readonly other: ReadonlyArray<NamespaceEntry>
  readonly shared: ReadonlyArray<NamespaceEntry>
}

/**
 * NAMESPACE (RFC 2342, built into IMAP4rev2 RFC 9051 §6.3.10). Needs NAMESPACE
 * (`MissingCapability`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const namespace = (handle: Authenticated): Effect.Effect<Namespaces, ImapError.ImapError | MailError.MailError> =>
  Extensions.namespace(handle).pipe(Effect.withSpan("Imap.namespace"))

/**
 * What a QRESYNC SELECT reported besides the status (RFC 7162 §3.2.5.1): `vanished`, the UID sets
 * of `VANISHED (EARLIER)` (messages expunged since the known mod-sequence, among the known UIDs;
 * as sent), and `changed`, the messages whose flags changed since (also in the mailbox view).
 *
 * @category models
 * @since 0.1.0
 */
export interface Resync {
  readonly vanished: ReadonlyArray<string>
  readonly changed: ReadonlyArray<{
    readonly seq: number
    readonly uid: number | undefined
    readonly flags: ReadonlyArray<string> | undefined
    readonly modseq: bigint | undefined
  }>
}
