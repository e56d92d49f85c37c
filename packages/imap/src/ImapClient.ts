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
 * | Secure | `capabilities`, `authenticate`, `login` |
 * | Authenticated (or Selected) | `select`, `examine`, `list`, `status`, `create`, `deleteMailbox`, `rename`, `subscribe`, `unsubscribe`, `append` |
 * | Selected | `fetch`, `download`, `store`, `search`, `uidSearch`, `copy`, `move`, `expunge`, `uidExpunge`, `closeMailbox`, `unselect`, `mailbox` |
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
 * @since 0.1.0
 */
import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import * as MailError from "@starttls/core/MailError"
import * as Sasl from "@starttls/core/Sasl"
import type * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
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
import * as Fetch from "./internal/client/fetch.ts"
import { connectionOf, withState } from "./internal/client/handles.ts"
import * as Mailboxes from "./internal/client/mailboxes.ts"
import * as Messages from "./internal/client/messages.ts"
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

// Mechanisms whose first message completes the client's side: safe to send without waiting.
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
        const only = options.authenticate?.mechanisms
        const mechanism = only !== undefined && only.length === 1 ? only[0]!.toUpperCase() : undefined
        if (mechanism !== undefined && PIPELINABLE.has(mechanism)) {
          return yield* pipelinedSession(plain, mechanism, options)
        }
        const tls = yield* startTls(plain)
        return yield* authenticate(tls, options.credentials, options.authenticate)
      }
    }
  }).pipe(Effect.withSpan("Imap.session"))

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
  return Connection.capabilities(connection).pipe(
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
  withState(handle, (session) => Effect.asVoid(Command.run(session, { _tag: "Noop" }, { name: "NOOP" }))).pipe(
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
    yield* Connection.close(connection)
    yield* State.end(connection.session, State.of(connection.session))
  }).pipe(Effect.withSpan("Imap.logout"))

/**
 * The mailbox events of the connection (see `ImapMailbox.ImapEvent`), from now on: the
 * subscription is made when this effect runs, the stream ends at `logout` or when the connection's
 * scope closes. Solicited results (FETCH / STORE replies) are not events; EXPUNGEs always are.
 * Events are kept in a bounded buffer: a consumer that falls more than 4096 behind loses the oldest
 * (the mailbox view is always complete).
 *
 * @category getters
 * @since 0.1.0
 */
export const events = (handle: Any): Effect.Effect<Stream.Stream<ImapMailbox.ImapEvent>, MailError.MailError, Scope.Scope> =>
  Effect.gen(function*() {
    const session = yield* Connection.check(connectionOf(handle))
    const hub = yield* State.hub(State.of(session))
    const subscription = yield* PubSub.subscribe(hub)
    return Stream.fromSubscription(subscription).pipe(Stream.takeWhile(State.isEvent))
  })

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
 * CREATE (RFC 9051 §6.3.4), optionally with special-use attributes (RFC 6154 §3,
 * CREATE-SPECIAL-USE).
 *
 * @category combinators
 * @since 0.1.0
 */
export const create = (
  handle: Authenticated,
  mailbox: string,
  options?: { readonly specialUse?: ReadonlyArray<ImapMailbox.SpecialUse> | undefined }
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  Mailboxes.simple(
    handle,
    options?.specialUse === undefined
      ? { _tag: "Create", mailbox }
      : { _tag: "Create", mailbox, specialUse: options.specialUse },
    "CREATE"
  ).pipe(Effect.withSpan("Imap.create"))

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
  Fetch.messages(
    Messages.acquireSelection(handle),
    Messages.fetchCommand(set, Messages.fetchItems(query, options?.uid === true), options)
  )

/**
 * One message (or one of its sections) as a stream of bytes at constant memory, however big: the
 * literal's bytes go downstream as they arrive (BODY.PEEK, `\Seen` is not set). `id` is a sequence
 * number, or a UID with `uid: true`. A message that does not exist gives an empty stream.
 *
 * @category combinators
 * @since 0.1.0
 */
export const download = (
  handle: Selected,
  id: number,
  options?: {
    readonly uid?: boolean | undefined
    readonly part?: ReadonlyArray<number> | undefined
    readonly specifier?: ImapCommand.SectionSpecifier | undefined
  }
): Stream.Stream<Uint8Array, ImapError.ImapError | MailError.MailError> => {
  const section: ImapCommand.BodySection = {
    _tag: "BodySection",
    peek: true,
    ...(options?.part === undefined ? {} : { part: options.part }),
    ...(options?.specifier === undefined ? {} : { specifier: options.specifier })
  }
  const items: Array<ImapCommand.FetchItem> = options?.uid === true ? ["UID", section] : [section]
  return Fetch.bytes(Messages.acquireSelection(handle), Messages.fetchCommand(SequenceSet.single(id), items, options))
}

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
  /** UNCHANGEDSINCE (RFC 7162 §3.1.3). */
  readonly unchangedSince?: bigint | number | undefined
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
 * reported (none with `silent`). The view is updated.
 *
 * @category combinators
 * @since 0.1.0
 */
export const store = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  action: StoreAction,
  flags: ReadonlyArray<string>,
  options?: StoreOptions
): Effect.Effect<ReadonlyArray<StoreResult>, ImapError.ImapError | MailError.MailError> =>
  Messages.store(handle, set, action, flags, options).pipe(Effect.withSpan("Imap.store"))


/**
 * SEARCH / UID SEARCH (RFC 9051 §6.4.4): the matching sequence numbers (or UIDs with `uid`), in
 * the server's order. Non-ASCII strings are sent with CHARSET UTF-8 (or as UTF-8 when enabled).
 *
 * @category combinators
 * @since 0.1.0
 */
export const search = (
  handle: Selected,
  criteria: SearchCriteria.Criterion,
  options?: { readonly uid?: boolean | undefined }
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  Messages.search(handle, criteria, options).pipe(Effect.withSpan("Imap.search"))


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
 * MOVE / UID MOVE (RFC 6851, RFC 9051 §6.4.8). Needs MOVE (or IMAP4rev2). The moved messages'
 * EXPUNGEs update the view and are events.
 *
 * @category combinators
 * @since 0.1.0
 */
export const move = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  destination: string,
  options?: { readonly uid?: boolean | undefined }
): Effect.Effect<CopyResult, ImapError.ImapError | MailError.MailError> =>
  Messages.transfer(handle, "Move", set, destination, options).pipe(Effect.withSpan("Imap.move"))

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
      : Effect.fail(ImapError.make(new ImapError.MissingCapability({ command: "UID EXPUNGE", capability: "UIDPLUS" }))))
    .pipe(Effect.withSpan("Imap.uidExpunge"))
