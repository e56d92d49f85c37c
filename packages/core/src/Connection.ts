/**
 * The typestate connection and the negotiation engine.
 *
 * A `Connection<S>` is a handle whose type parameter is the security state:
 *
 * ```
 *  Plain ──startTls──▶ (Upgrading: runtime only) ──▶ Secure ──authenticate──▶ Authenticated
 *    └──────────────── implicit TLS (993/995/465) ───────┘
 * ```
 *
 * Operations exist only on the handles where they are allowed (`startTls` takes a Plain handle,
 * `authenticate` a Plain one only with the dangerous `PlaintextAuth` policy in its requirements). A
 * transition consumes its handle: TypeScript has no linear types, so the session keeps a generation
 * number and a stale handle fails with `StaleConnection` at run time.
 *
 * The engine is the same for every protocol; the protocol is a `Dialect` value.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Credentials from "./Credentials.ts"
import type * as Dialect from "./Dialect.ts"
import * as Limits from "./Limits.ts"
import * as MailError from "./MailError.ts"
import * as Sasl from "./Sasl.ts"
import type { SaslError } from "./SaslError.ts"
import * as SecurityEvents from "./SecurityEvents.ts"
import type * as Tls from "./Tls.ts"
import * as TlsPolicy from "./TlsPolicy.ts"
import { Transport } from "./Transport.ts"
import * as Wire from "./Wire.ts"

/**
 * The security states a handle can be typed with. `Upgrading` exists only at run time (spans,
 * `runtimeState`); no handle is ever typed with it.
 *
 * @category models
 * @since 0.1.0
 */
export type State = "Plain" | "Secure" | "Authenticated"

/**
 * The runtime state of a session.
 *
 * @category models
 * @since 0.1.0
 */
export type RuntimeState = State | "Upgrading" | "Closed"

/**
 * Where and how to connect.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly host: string
  readonly port: number
  /** Implicit TLS or STARTTLS. Default: `TlsPolicy.DefaultSecurityMode`, else derived from the port. */
  readonly security?: TlsPolicy.SecurityMode | undefined
  readonly tls?: Tls.TlsConfig | undefined
  readonly timeouts?: Partial<Limits.Timeouts> | undefined
  readonly limits?: Partial<Limits.Limits> | undefined
  /** Local address to bind. */
  readonly localAddress?: string | undefined
}

/**
 * The mutable cell shared by all handles of one connection. Protocol packages use it to run
 * commands; user code holds handles.
 *
 * @category models
 * @since 0.1.0
 */
export interface Session<F, Caps> {
  readonly dialect: Dialect.Dialect<F, Caps>
  readonly protocol: Dialect.Session<F, Caps>
  readonly wire: Wire.Wire<F>
  readonly host: string
  readonly port: number
  readonly tlsConfig: Tls.TlsConfig
  readonly timeouts: Limits.Timeouts
  readonly limits: Limits.Limits
  /** One exchange at a time (protocol packages that pipeline take the permit for the whole flight). */
  readonly lock: Semaphore.Semaphore
  state: RuntimeState
  generation: number
  /** Why the session was closed when it was abandoned after a failure (returned to later callers). */
  failure: MailError.MailError | undefined
  /** Capabilities learned in the current security state (over TLS once Secure). */
  capabilities: Caps | undefined
  /** Capabilities learned in plaintext: untrusted, forgotten at the upgrade (S4). */
  plaintextCapabilities: Caps | undefined
}

/**
 * A handle in state `S`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Connection<S extends State, F, Caps> {
  readonly state: S
  readonly generation: number
  readonly session: Session<F, Caps>
}

/**
 * Issues the one valid handle for a session in state `S`: every earlier handle becomes stale. For
 * protocol packages that move a session between states themselves (e.g. back to Plain after a
 * refused STARTTLS under the opportunistic policy).
 *
 * @category constructors
 * @since 0.1.0
 */
export const reissue = <S extends State, F, Caps>(session: Session<F, Caps>, state: S): Connection<S, F, Caps> => {
  session.state = state
  session.generation += 1
  return { state, generation: session.generation, session }
}

const handle = reissue

/**
 * Checks that a handle is the current one. Every operation starts with it.
 *
 * @category guards
 * @since 0.1.0
 */
export const check = <S extends State, F, Caps>(
  connection: Connection<S, F, Caps>
): Effect.Effect<Session<F, Caps>, MailError.MailError> =>
  Effect.suspend(() => {
    const failure = staleness(connection)
    return failure === undefined ? Effect.succeed(connection.session) : Effect.fail(failure)
  })

/**
 * `check` as a plain function, for code that cannot run an Effect at that point (a pipeline writing
 * queued commands): the failure, or `undefined` when the handle is current.
 *
 * @category guards
 * @since 0.1.0
 */
export const staleness = <S extends State, F, Caps>(
  connection: Connection<S, F, Caps>
): MailError.MailError | undefined => {
  const session = connection.session
  if (session.state === "Closed" && session.failure !== undefined) return session.failure
  if (session.generation !== connection.generation || session.state !== connection.state) {
    return MailError.make(new MailError.StaleConnection({ expected: connection.state, actual: session.state }))
  }
  return undefined
}

/**
 * Runs `f` holding the session's lock, after checking (under the lock) that the handle is current.
 * Every operation of a protocol package goes through it.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withSession = <S extends State, F, Caps, A, E, R>(
  connection: Connection<S, F, Caps>,
  f: (session: Session<F, Caps>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> =>
  connection.session.lock.withPermits(1)(
    Effect.flatMap(check(connection), (session) =>
      // An operation interrupted half-way may have left a reply on the wire that the next operation
      // would take for its own: the connection cannot be trusted any more, so it is closed.
      Effect.onInterrupt(f(session), () => abandon(session)))
  )

/**
 * Closes the session at once because it is out of step with the server (an exchange was
 * abandoned): every handle becomes stale and the socket is destroyed.
 *
 * @category destructors
 * @since 0.1.0
 */
export const abandon = <F, Caps>(session: Session<F, Caps>, failure?: MailError.MailError): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (session.state !== "Closed") {
      session.state = "Closed"
      session.generation += 1
      session.failure ??= failure
    }
    return session.wire.destroy
  })

/**
 * Consumes a handle and returns one in state `To`. For protocol packages (e.g. IMAP moving into a
 * selected mailbox keeps `Authenticated`, but re-issues the handle).
 *
 * @category constructors
 * @since 0.1.0
 */
export const transition = <S extends State, To extends State, F, Caps>(
  connection: Connection<S, F, Caps>,
  to: To
): Effect.Effect<Connection<To, F, Caps>, MailError.MailError> =>
  Effect.map(check(connection), (session) => handle(session, to))

const failWith = (reason: MailError.MailErrorReason) => Effect.fail(MailError.make(reason))

/**
 * Runs one dialect command: writes it, then feeds frames to `onFrame` until it is done. Fails the
 * exchange (not the connection) on `Fail`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const exchange = <F, Caps, A>(
  session: Session<F, Caps>,
  command: Dialect.Command<F, A>
): Effect.Effect<A, MailError.MailError> =>
  Effect.andThen(
    session.wire.write(command.bytes, command.trace, command.phase),
    readUntil(session, command.phase, command.onFrame)
  )

/**
 * Reads frames until `onFrame` says `Done` or `Fail`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const readUntil = <F, Caps, A>(
  session: Session<F, Caps>,
  phase: MailError.Phase,
  onFrame: (frame: F) => Dialect.Step<A>
): Effect.Effect<A, MailError.MailError> => {
  const loop: Effect.Effect<A, MailError.MailError> = Effect.flatMap(session.wire.next(phase), (frame) => {
    const step = onFrame(frame)
    switch (step._tag) {
      case "Continue":
        return loop
      case "Done":
        return Effect.succeed(step.value)
      case "Fail":
        return failWith(step.reason)
    }
  })
  // Each wait for bytes has the phase's deadline (the Wire's); the whole reply has it too, so a
  // server trickling a byte at a time cannot hold us forever (S9). Bulk transfers ("data") and idle
  // waits only have the per-chunk deadline: their total length is legitimately unbounded.
  if (phase === "data" || phase === "idle") return loop
  const millis = Wire.deadlineFor(session.timeouts, phase)
  return loop.pipe(
    Effect.timeoutOrElse({
      duration: millis,
      orElse: () => {
        const timeout = MailError.make(new MailError.Timeout({ phase, millis }))
        return Effect.andThen(abandon(session, timeout), Effect.fail(timeout))
      }
    })
  )
}

const resolveMode = (dialect: Dialect.Dialect<unknown, unknown>, options: Options) =>
  TlsPolicy.DefaultSecurityMode.useSync((fallback): TlsPolicy.SecurityMode => {
    if (options.security !== undefined) return options.security
    if (fallback !== "auto") return fallback
    return dialect.implicitTlsPorts.includes(options.port) ? "implicit-tls" : "starttls"
  })

const tlsParams = <F, Caps>(session: Session<F, Caps>): Tls.TlsParams => ({ ...session.tlsConfig, host: session.host })

const certificateEvent = <F, Caps>(session: Session<F, Caps>) =>
  session.tlsConfig.dangerouslyAcceptInvalidCertificates === true
    ? SecurityEvents.emit({ _tag: "CertificateVerificationDisabled", protocol: session.dialect.name, host: session.host })
    : Effect.void

// A TLS handshake (0x16) or alert (0x15) record header, version major 3.
const isTlsRecordStart = (bytes: Uint8Array): boolean =>
  bytes.length >= 2 && (bytes[0] === 0x16 || bytes[0] === 0x15) && bytes[1] === 0x03

/**
 * Opens the connection and reads the greeting. With implicit TLS the handshake comes first. Returns
 * the handle in the state the greeting leaves it in:
 *
 * - STARTTLS mode: `Plain` (a pre-authenticated greeting fails with `PreauthOnPlaintext`, S6).
 * - implicit TLS: `Secure`, or `Authenticated` after a pre-authenticated greeting (IMAP PREAUTH).
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = <F, Caps>(
  dialect: Dialect.Dialect<F, Caps>,
  options: Options
): Effect.Effect<
  Connection<"Plain", F, Caps> | Connection<"Secure", F, Caps> | Connection<"Authenticated", F, Caps>,
  MailError.MailError,
  Transport | Scope.Scope
> =>
  Effect.gen(function*() {
    const mode = yield* resolveMode(dialect as Dialect.Dialect<unknown, unknown>, options)
    const timeouts = Limits.timeouts(options.timeouts)
    const limits = Limits.limits(options.limits)
    const transport = yield* Transport
    const connection = yield* transport.connect({
      host: options.host,
      port: options.port,
      localAddress: options.localAddress,
      timeout: timeouts.connect
    }).pipe(
      // Every transport gets the deadline, not only those that implement it themselves.
      Effect.timeoutOrElse({
        duration: timeouts.connect,
        orElse: () => failWith(new MailError.Timeout({ phase: "connect", millis: timeouts.connect }))
      })
    )
    const tlsConfig = options.tls ?? {}
    if (mode === "implicit-tls") {
      yield* connection.upgrade({ ...tlsConfig, host: options.host }).pipe(
        Effect.timeoutOrElse({
          duration: timeouts.handshake,
          orElse: () => failWith(new MailError.Timeout({ phase: "handshake", millis: timeouts.handshake }))
        }),
        Effect.catchReason("MailError", "TlsFailure", (reason) =>
          reason.kind === "NotTls"
            ? failWith(new MailError.SecurityModeMismatch({
              port: options.port,
              clientMode: "implicit-tls",
              serverSpeaks: "plaintext"
            }))
            : failWith(reason))
      )
    }
    const protocol = dialect.session()
    const makeFramer = protocol.makeFramer ?? dialect.makeFramer
    const wire = yield* Wire.make(connection, {
      protocol: dialect.name,
      host: options.host,
      port: options.port,
      timeouts,
      makeFramer: () => makeFramer(limits),
      // Bytes that cannot be framed: the session is over, whatever was reading (S8).
      onUndecodable: (error) => abandon(session, error)
    })
    const session: Session<F, Caps> = {
      dialect,
      protocol,
      wire,
      host: options.host,
      port: options.port,
      tlsConfig,
      timeouts,
      limits,
      lock: yield* Semaphore.make(1),
      state: mode === "implicit-tls" ? "Secure" : "Plain",
      generation: 0,
      capabilities: undefined,
      plaintextCapabilities: undefined,
      failure: undefined
    }
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => {
        session.state = "Closed"
        session.generation += 1
      })
    )
    if (mode === "implicit-tls") yield* certificateEvent(session)

    // A connection that fails to open is closed at once, not when the caller's scope ends.
    const greeting = yield* readUntil(session, "greeting", session.protocol.greeting).pipe(
      Effect.tapError(() => abandon(session)),
      Effect.catch((error) => {
        // A TLS record where a plaintext greeting was expected: the port speaks implicit TLS.
        if (mode === "starttls" && isTlsRecordStart(wire.firstBytes())) {
          return failWith(new MailError.SecurityModeMismatch({
            port: options.port,
            clientMode: "starttls",
            serverSpeaks: "implicit-tls"
          }))
        }
        if (mode === "starttls" && error.reason._tag === "Timeout" && wire.pending() === 0) {
          return failWith(new MailError.Timeout({
            phase: "greeting",
            millis: error.reason.millis,
            hint: dialect.implicitTlsPorts.includes(options.port)
              ? `port ${options.port} usually speaks implicit TLS`
              : "no greeting; if the port speaks implicit TLS, connect with security: \"implicit-tls\""
          }))
        }
        return Effect.fail(error)
      })
    )
    switch (greeting._tag) {
      case "Rejected":
        yield* abandon(session)
        return yield* failWith(new MailError.GreetingRejected({
          protocol: dialect.name,
          untrustedText: greeting.untrustedText
        }))
      case "Preauthenticated":
        if (mode === "starttls") {
          yield* abandon(session)
          return yield* failWith(new MailError.PreauthOnPlaintext({ protocol: dialect.name }))
        }
        session.capabilities = greeting.capabilities
        return handle(session, "Authenticated")
      case "Ready":
        if (mode === "starttls") {
          session.plaintextCapabilities = greeting.capabilities
          return handle(session, "Plain")
        }
        session.capabilities = greeting.capabilities
        return handle(session, "Secure")
    }
  }).pipe(Effect.withSpan("Connection.open", { attributes: { host: options.host, port: options.port } }))

/**
 * Opens a STARTTLS-mode connection (the handle is `Plain`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = <F, Caps>(
  dialect: Dialect.Dialect<F, Caps>,
  options: Omit<Options, "security">
): Effect.Effect<Connection<"Plain", F, Caps>, MailError.MailError, Transport | Scope.Scope> =>
  Effect.flatMap(open(dialect, { ...options, security: "starttls" }), (connection) =>
    connection.state === "Plain"
      ? Effect.succeed(connection as Connection<"Plain", F, Caps>)
      : failWith(new MailError.ProtocolViolation({ phase: "greeting", detail: "unexpected state after greeting" })))

/**
 * Opens an implicit-TLS connection (`Secure`, or `Authenticated` after a pre-authenticated greeting).
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectTls = <F, Caps>(
  dialect: Dialect.Dialect<F, Caps>,
  options: Omit<Options, "security">
): Effect.Effect<
  Connection<"Secure", F, Caps> | Connection<"Authenticated", F, Caps>,
  MailError.MailError,
  Transport | Scope.Scope
> =>
  Effect.flatMap(open(dialect, { ...options, security: "implicit-tls" }), (connection) =>
    connection.state === "Plain"
      ? failWith(new MailError.ProtocolViolation({ phase: "greeting", detail: "unexpected state after greeting" }))
      : Effect.succeed(connection as Connection<"Secure", F, Caps> | Connection<"Authenticated", F, Caps>))

/**
 * The capability query, in the connection's current security state. On Plain the result is
 * untrusted: it is kept apart and forgotten at the upgrade (S4).
 *
 * @category combinators
 * @since 0.1.0
 */
export const queryCapabilities = <S extends State, F, Caps>(
  connection: Connection<S, F, Caps>
): Effect.Effect<Caps, MailError.MailError> => withSession(connection, askCapabilities)

/**
 * The capability query on a session whose lock the caller holds; the answer is kept (apart, when
 * the connection is Plain: untrusted).
 *
 * @category combinators
 * @since 0.1.0
 */
export const askCapabilities = <F, Caps>(session: Session<F, Caps>): Effect.Effect<Caps, MailError.MailError> =>
  Effect.tap(exchange(session, session.protocol.capabilities()), (caps) =>
    Effect.sync(() => {
      if (session.state === "Plain") session.plaintextCapabilities = caps
      else session.capabilities = caps
    }))

/**
 * Capabilities of a Secure or Authenticated connection, learned over TLS (asked now if not yet
 * known).
 *
 * @category combinators
 * @since 0.1.0
 */
export const capabilities = <S extends "Secure" | "Authenticated", F, Caps>(
  connection: Connection<S, F, Caps>
): Effect.Effect<Caps, MailError.MailError> =>
  Effect.flatMap(check(connection), (session) =>
    session.capabilities !== undefined ? Effect.succeed(session.capabilities) : queryCapabilities(connection))

/**
 * Options of `startTls`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StartTlsOptions {
  /**
   * Do not ask for the capabilities right after the handshake: they are asked over TLS when first
   * needed (`capabilities`, `authenticate`). What was learned in plaintext is forgotten either way
   * (S4). For a client that authenticates with a mechanism its caller named
   * (`AuthenticateOptions.withoutCapabilities`) and may not send the two commands together (POP3
   * without a PIPELINING advertisement it has not seen yet). Default `false`.
   */
  readonly deferCapabilities?: boolean | undefined
}

/**
 * STARTTLS: sends the command, requires the success reply with NOTHING after it (S3), upgrades in
 * place with certificate verification (S5), forgets everything learned in plaintext and asks for
 * the capabilities again over TLS (S4; later, with `deferCapabilities`). Writes nothing between the
 * command and the end of the handshake (S12). Consumes the Plain handle.
 *
 * @category combinators
 * @since 0.1.0
 */
export const startTls = <F, Caps>(
  connection: Connection<"Plain", F, Caps>,
  options?: StartTlsOptions
): Effect.Effect<Connection<"Secure", F, Caps>, MailError.MailError> =>
  withSession(connection, (session) =>
    Effect.gen(function*() {
      if (session.dialect.capabilitiesBeforeStartTls && session.plaintextCapabilities === undefined) {
        yield* askCapabilities(session)
      }
      if (
        session.dialect.capabilitiesBeforeStartTls && session.plaintextCapabilities !== undefined &&
        !session.protocol.offersStartTls(session.plaintextCapabilities)
      ) {
        return yield* failWith(new MailError.StartTlsUnavailable({ protocol: session.dialect.name }))
      }
      // From the STARTTLS command on, the Plain handle is consumed (S12: nobody writes until TLS is up).
      session.state = "Upgrading"
      session.generation += 1
      yield* exchange(session, session.protocol.startTls()).pipe(
        Effect.tapError(() =>
          Effect.sync(() => {
            session.state = "Closed"
          })
        )
      )
      const tls = yield* session.wire.startTls(tlsParams(session)).pipe(
        Effect.timeoutOrElse({
          duration: session.timeouts.handshake,
          orElse: () => failWith(new MailError.Timeout({ phase: "handshake", millis: session.timeouts.handshake }))
        }),
        Effect.withSpan("Connection.upgrading", { attributes: { host: session.host } }),
        // Injection, a failed or timed-out handshake: the connection is unusable; close it now.
        Effect.tapError((error) => abandon(session, error))
      )
      session.plaintextCapabilities = undefined
      session.capabilities = undefined
      yield* certificateEvent(session)
      yield* Effect.annotateCurrentSpan({ "tls.protocol": tls.protocol, "tls.cipher": tls.cipher })
      if (options?.deferCapabilities === true) return handle(session, "Secure")
      const query = session.protocol.capabilities()
      const caps = yield* exchange(session, {
        ...query,
        // The server refusing or botching the re-query is CapabilitiesUnavailable; transport,
        // limit and parse failures keep their own reason.
        onFrame: (frame: F): Dialect.Step<Caps> => {
          const step = query.onFrame(frame)
          return step._tag === "Fail"
            ? { _tag: "Fail", reason: new MailError.CapabilitiesUnavailable({
              protocol: session.dialect.name,
              detail: step.reason.message
            }) }
            : step
        }
      }).pipe(
        // No trustworthy capabilities over TLS: the session ends here (S4), closed at once.
        Effect.tapError((error) => abandon(session, error))
      )
      session.capabilities = caps
      return handle(session, "Secure")
    })).pipe(Effect.withSpan("Connection.startTls"))

/**
 * Opens a connection and makes it secure according to the policy: implicit TLS, or STARTTLS, which
 * is required (S1): STARTTLS not offered, refused or failing ends in an error, with nothing written
 * after the probe.
 *
 * @category constructors
 * @since 0.1.0
 */
export const secure = <F, Caps>(
  dialect: Dialect.Dialect<F, Caps>,
  options: Options
): Effect.Effect<
  Connection<"Secure", F, Caps> | Connection<"Authenticated", F, Caps>,
  MailError.MailError,
  Transport | Scope.Scope
> =>
  Effect.flatMap(open(dialect, options), (connection) =>
    connection.state === "Plain"
      ? startTls(connection as Connection<"Plain", F, Caps>).pipe(
        // Under the required policy a refused STARTTLS ends the connection (S1).
        Effect.tapError(() => abandon(connection.session))
      )
      : Effect.succeed(connection as Connection<"Secure", F, Caps> | Connection<"Authenticated", F, Caps>))

/**
 * DANGEROUS (needs `TlsPolicy.OpportunisticStartTls`): like `secure`, but when STARTTLS is not offered
 * or is refused, carries on in plaintext (a `Downgrade` event and a warning are emitted). The handle
 * then stays typed `Plain`. TLS failures after a positive STARTTLS reply are still errors (the
 * connection is broken by then), and so is injection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const opportunistic = <F, Caps>(
  dialect: Dialect.Dialect<F, Caps>,
  options: Omit<Options, "security">
): Effect.Effect<
  Connection<"Plain", F, Caps> | Connection<"Secure", F, Caps>,
  MailError.MailError,
  Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
> =>
  Effect.gen(function*() {
    yield* TlsPolicy.OpportunisticStartTls
    const plain = yield* connect(dialect, options)
    const session = plain.session
    // A server that refuses the capability query (POP3 without CAPA answers -ERR, RFC 2449 §5)
    // cannot advertise STARTTLS: the same downgrade as a list without it. Anything else (a broken
    // connection, a malformed answer) still fails.
    const caps = yield* queryCapabilities(plain).pipe(
      Effect.catchReason("MailError", "CapabilitiesUnavailable", () => Effect.succeed(undefined))
    )
    if (caps === undefined || !session.protocol.offersStartTls(caps)) {
      yield* SecurityEvents.emit({
        _tag: "Downgrade",
        protocol: dialect.name,
        host: options.host,
        reason: caps === undefined ? "capabilities refused (STARTTLS not offered)" : "STARTTLS not offered"
      })
      return handle(session, "Plain")
    }
    const fresh = { state: "Plain" as const, generation: session.generation, session }
    return yield* startTls(fresh).pipe(
      Effect.catchReason("MailError", "StartTlsRejected", (reason) =>
        Effect.as(
          SecurityEvents.emit({
            _tag: "Downgrade",
            protocol: dialect.name,
            host: options.host,
            reason: `STARTTLS refused${reason.code === undefined ? "" : ` (${reason.code})`}`
          }),
          handle(session, "Plain")
        ))
    )
  })

/**
 * The authentication frame every login method of every protocol runs in: checks the handle, enforces
 * the policy (a Plain connection needs `TlsPolicy.PlaintextAuth`, which only the dangerous layer
 * provides: the requirement is in the type, and a `PlaintextAuthentication` event and a warning are
 * emitted when it is used), runs the exchange under the session lock, records the capabilities the
 * server announced with its success (if any), and returns the `Authenticated` handle, consuming the
 * old one.
 *
 * @category combinators
 * @since 0.1.0
 */
export const authorize = <S extends "Plain" | "Secure", F, Caps, E, R>(
  connection: Connection<S, F, Caps>,
  mechanism: string,
  run: (session: Session<F, Caps>) => Effect.Effect<Caps | undefined, E, R>
): Effect.Effect<
  Connection<"Authenticated", F, Caps>,
  E | MailError.MailError,
  R | TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>
> =>
  withSession(connection, (session) =>
    Effect.gen(function*() {
      if (session.state === "Plain") {
        // The type requires the policy for a Plain handle; a handle cast around the type still
        // meets this run-time check (typed, nothing written).
        const policy = yield* Effect.serviceOption(TlsPolicy.PlaintextAuth)
        if (Option.isNone(policy)) {
          return yield* failWith(new MailError.PolicyViolation({
            detail: "authentication on a plaintext connection needs TlsPolicy.allowPlaintextAuthDangerously"
          }))
        }
        yield* SecurityEvents.emit({
          _tag: "PlaintextAuthentication",
          protocol: session.dialect.name,
          host: session.host,
          mechanism
        })
      }
      const capabilities = yield* run(session)
      if (capabilities !== undefined) session.capabilities = capabilities
      return handle(session, "Authenticated")
    }).pipe(Effect.withSpan("Connection.authenticate", { attributes: { mechanism } }))
  ) as Effect.Effect<
    Connection<"Authenticated", F, Caps>,
    E | MailError.MailError,
    // The PlaintextAuth requirement is only reached on a Plain handle, which is what OnPlain says.
    R | TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>
  >

/**
 * Options of `authenticate`.
 *
 * @category models
 * @since 0.1.0
 */
export interface AuthenticateOptions {
  /** Restrict the SASL mechanisms (case-insensitive); the strongest allowed one both sides offer wins. */
  readonly mechanisms?: ReadonlyArray<string> | undefined
  /**
   * When the capabilities of a TLS connection are not known yet (implicit TLS without capabilities
   * in the greeting, `StartTlsOptions.deferCapabilities`) and `mechanisms` names exactly one
   * mechanism of `Sasl.offerIndependent`, start it at once instead of asking for them first (one
   * round trip less). The mechanism is the caller's choice, not taken from any list (S11), and
   * nothing learned in plaintext is used (S4); a server that does not support it refuses it
   * (`AuthenticationFailed`). Otherwise, and on a plaintext connection, the capabilities are asked
   * as usual. Default `false`.
   */
  readonly withoutCapabilities?: boolean | undefined
}

const saslFailure = (error: SaslError): MailError.MailError =>
  MailError.make(
    error.reason === "NoUsableMechanism"
      ? new MailError.NoUsableMechanism({ offered: [], detail: error.detail })
      : new MailError.AuthenticationFailed({
        mechanism: error.mechanism,
        code: error.reason,
        detail: error.detail,
        untrustedReply: error.untrustedServerText
      })
  )

/** Octets of a SASL message in base64, as IMAP, SMTP and POP3 send it (an empty one is `=`). */
const encodedLength = (octets: number): number => (octets === 0 ? 1 : Math.ceil(octets / 3) * 4)

/**
 * Runs a SASL exchange with the mechanism `name` and returns the capabilities announced with the
 * server's success (if any). Pure protocol work; `authenticate` wraps it in the policy checks.
 */
const runSasl = <F, Caps>(
  session: Session<F, Caps>,
  name: Sasl.MechanismName,
  credentials: Credentials.Resolved,
  capabilities: Caps | undefined,
  offered: ReadonlyArray<string>
): Effect.Effect<Caps | undefined, MailError.MailError> =>
  Effect.gen(function*() {
    const sasl = session.protocol.sasl
    const tls = session.wire.tls()
    const started = Sasl.start(name, {
      credentials,
      channelBinding: tls?.channelBinding,
      offered,
      host: session.host,
      port: session.port
    })
    if (Result.isFailure(started)) return yield* Effect.fail(saslFailure(started.failure))
    // The dialect decides with the response's size in hand (an AUTH line has a length limit).
    const response = started.success.response
    const inline = response === undefined ||
      sasl.initialResponse(capabilities, name, encodedLength(Redacted.value(response).length))
    const initial = inline ? started.success : Sasl.defer(started.success)
    let state = initial.state
    const opening = sasl.start(name, initial.response)
    yield* session.wire.write(opening.bytes, opening.trace, "authenticate")
    // After a client-side failure the exchange is cancelled; the server's failure reply then ends it.
    let aborted: MailError.MailError | undefined
    // XOAUTH2 / OAUTHBEARER report errors in a challenge; the failure reply that follows says less.
    let serverError: string | undefined
    while (true) {
      const frame = sasl.onFrame(yield* session.wire.next("authenticate"))
      switch (frame._tag) {
        case "Ignore":
          continue
        case "Violation":
          return yield* Effect.fail(MailError.make(
            new MailError.ProtocolViolation({ phase: "authenticate", detail: frame.detail })
          ))
        case "Challenge": {
          if (aborted !== undefined) return yield* Effect.fail(aborted)
          const next = Sasl.step(state, frame.data)
          if (Result.isFailure(next)) {
            aborted = saslFailure(next.failure)
            const cancel = sasl.cancel()
            yield* session.wire.write(cancel.bytes, cancel.trace, "authenticate")
            continue
          }
          state = next.success.state
          serverError = next.success.untrustedServerError ?? serverError
          const response = sasl.respond(next.success.response)
          yield* session.wire.write(response.bytes, response.trace, "authenticate")
          continue
        }
        case "Failure":
          return yield* Effect.fail(
            aborted ?? MailError.make(
              new MailError.AuthenticationFailed({
                mechanism: name,
                code: frame.code,
                detail: "the server rejected the credentials",
                untrustedReply: serverError === undefined ? frame.untrustedText : `${frame.untrustedText} (${serverError})`
              })
            )
          )
        case "Success": {
          if (aborted !== undefined) return yield* Effect.fail(aborted)
          const verified = Sasl.finish(state, frame.data)
          // A SCRAM server that cannot prove it knows the password is not the server we meant:
          // the session is not used, whatever it said (S11).
          if (Result.isFailure(verified)) {
            const failure = saslFailure(verified.failure)
            yield* abandon(session, failure)
            return yield* Effect.fail(failure)
          }
          return frame.capabilities
        }
      }
    }
  })

/**
 * SASL authentication with the strongest mechanism both sides offer (S11), chosen from the
 * capabilities learned over TLS, and restricted by `options.mechanisms`. Consumes the handle.
 *
 * On a Plain connection this type-checks only as an Effect that requires `TlsPolicy.PlaintextAuth`,
 * which exists only through `TlsPolicy.allowPlaintextAuthDangerously` (S2).
 *
 * @category combinators
 * @since 0.1.0
 */
export const authenticate = <S extends "Plain" | "Secure", F, Caps, E = never>(
  connection: Connection<S, F, Caps>,
  credentials: Credentials.Credentials<E>,
  options?: AuthenticateOptions
): Effect.Effect<
  Connection<"Authenticated", F, Caps>,
  E | MailError.MailError,
  TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>
> =>
  Effect.gen(function*() {
    const session = yield* check(connection)
    const plaintext = session.state === "Plain"
    const sasl = session.protocol.sasl
    const named = Sasl.independentOf(options?.mechanisms)
    let capabilities: Caps | undefined
    let offered: ReadonlyArray<string>
    if (named !== undefined && options?.withoutCapabilities === true && !plaintext && session.capabilities === undefined) {
      // The caller's one mechanism, started without the server's list (see `withoutCapabilities`).
      capabilities = undefined
      offered = [named]
    } else {
      capabilities = plaintext
        ? session.plaintextCapabilities ?? (yield* queryCapabilities(connection))
        : session.capabilities ?? (yield* queryCapabilities(connection))
      offered = sasl.mechanisms(capabilities)
    }
    const chosen = Sasl.choose({
      offered,
      credentials,
      allowed: options?.mechanisms,
      channelBinding: session.wire.tls()?.channelBinding !== undefined,
      loginDisabled: capabilities === undefined ? false : sasl.loginDisabled?.(capabilities) ?? false,
      secure: !plaintext
    })
    if (Result.isFailure(chosen)) {
      return yield* Effect.fail(MailError.make(
        new MailError.NoUsableMechanism({ offered: [...offered], detail: chosen.failure.detail })
      ))
    }
    const resolved = yield* Credentials.resolve(credentials)
    const millis = session.timeouts.command
    return yield* authorize(connection, chosen.success, (s) =>
      runSasl(s, chosen.success, resolved, capabilities, offered).pipe(
        Effect.timeoutOrElse({
          duration: millis,
          orElse: () => {
            const timeout = MailError.make(new MailError.Timeout({ phase: "authenticate", millis }))
            return Effect.andThen(abandon(s, timeout), Effect.fail(timeout))
          }
        })
      ))
  }) as Effect.Effect<
    Connection<"Authenticated", F, Caps>,
    E | MailError.MailError,
    TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>
  >

/**
 * The common case in one call: connect, make the connection secure according to the policy
 * (`secure`), and authenticate. A pre-authenticated implicit-TLS session is returned as it is.
 *
 * @category constructors
 * @since 0.1.0
 */
export const session = <F, Caps, E = never>(
  dialect: Dialect.Dialect<F, Caps>,
  options: Options & {
    readonly credentials: Credentials.Credentials<E>
    readonly authenticate?: AuthenticateOptions | undefined
  }
): Effect.Effect<Connection<"Authenticated", F, Caps>, E | MailError.MailError, Transport | Scope.Scope> =>
  Effect.flatMap(secure(dialect, options), (connection) =>
    connection.state === "Authenticated"
      ? Effect.succeed(connection as Connection<"Authenticated", F, Caps>)
      : authenticate(connection as Connection<"Secure", F, Caps>, options.credentials, options.authenticate))

/**
 * Says goodbye (LOGOUT/QUIT) when the protocol has a command for it, then closes. Errors during the
 * goodbye are ignored: the connection is closed either way.
 *
 * @category destructors
 * @since 0.1.0
 */
export const close = <S extends State, F, Caps>(connection: Connection<S, F, Caps>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const session = connection.session
    if (session.state === "Closed") return
    const logout = session.protocol.logout
    if (logout !== undefined && session.generation === connection.generation) {
      yield* session.lock.withPermits(1)(exchange(session, logout())).pipe(
        Effect.timeoutOrElse({ duration: session.timeouts.command, orElse: () => Effect.void }),
        Effect.ignore
      )
    }
    yield* abandon(session)
  })

/**
 * The runtime state of the session behind a handle (including `Upgrading` and `Closed`).
 *
 * @category getters
 * @since 0.1.0
 */
export const runtimeState = <S extends State, F, Caps>(connection: Connection<S, F, Caps>): RuntimeState =>
  connection.session.state

/**
 * The TLS session, if the connection is encrypted.
 *
 * @category getters
 * @since 0.1.0
 */
export const tlsSession = <S extends State, F, Caps>(connection: Connection<S, F, Caps>): Tls.TlsSession | undefined =>
  connection.session.wire.tls()
