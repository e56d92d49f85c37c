/**
 * The SMTP client (RFC 5321, submission RFC 6409) on core's typestate connection.
 *
 * ```
 *  connect ─▶ Plain ──startTls──▶ Secure ──authenticate──▶ Authenticated
 *  connectTls (465) ─────────────▶ Secure
 *  secure / session: all of it from one configuration, TLS required (S1)
 * ```
 *
 * `send` works on Secure and Authenticated handles, and on a Plain one only under the dangerous
 * `TlsPolicy.OpportunisticStartTls` (the requirement is in the type). It uses what the server
 * announced over TLS (S4): PIPELINING (one flight for MAIL, every RCPT and DATA or the first BDAT),
 * CHUNKING (BDAT, no dot-stuffing), SIZE (declared, and checked before anything is sent),
 * 8BITMIME / BINARYMIME / SMTPUTF8 when the message needs them (a typed error when the server
 * lacks them), DSN and REQUIRETLS. Each recipient's fate is data in the result; the message
 * counts as sent only after the final reply (S12).
 *
 * ```ts
 * import * as Smtp from "@starttls/smtp/SmtpClient"
 * import * as Credentials from "@starttls/core/Credentials"
 * import * as NodeTransport from "@starttls/core/NodeTransport"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 *
 * const program = Effect.gen(function*() {
 *   const smtp = yield* Smtp.session({
 *     host: "mail.example.com",
 *     port: 587,
 *     credentials: Credentials.password({ username: "me", password: Redacted.make("secret") })
 *   })
 *   const result = yield* Smtp.send(smtp, { from: "me@example.com", to: ["you@example.org"] }, rawMessage)
 *   console.log(result.accepted, result.rejected)
 * }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Connection from "@starttls/core/Connection"
import type * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import type * as Tls from "@starttls/core/Tls"
import type * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Negotiate from "./internal/negotiate.ts"
import type * as SmtpCommand from "./SmtpCommand.ts"
import type * as SmtpError from "./SmtpError.ts"
import type * as SmtpExtensions from "./SmtpExtensions.ts"
import type * as SmtpReply from "./SmtpReply.ts"

/**
 * An SMTP (or LMTP) connection in state `S`.
 *
 * @category models
 * @since 0.1.0
 */
export type SmtpConnection<S extends Connection.State> = Connection.Connection<
  S,
  SmtpReply.SmtpReply,
  SmtpExtensions.SmtpExtensions
>

/**
 * Where and how to connect: core's options plus the name to greet with.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Connection.Options {
  /** EHLO name (RFC 5321 §4.1.1.1). Default `SmtpDialect.defaultClientName`. */
  readonly clientName?: string | undefined
}

/**
 * `Options` plus what `session` needs to authenticate.
 *
 * @category models
 * @since 0.1.0
 */
export interface SessionOptions<E = never> extends Options {
  /** Without credentials the session stays Secure (an MTA-style port without AUTH). */
  readonly credentials?: Credentials.Credentials<E> | undefined
  readonly authenticate?: Connection.AuthenticateOptions | undefined
}

/**
 * One recipient with its DSN options (RFC 3461 §4.1, §4.2).
 *
 * @category models
 * @since 0.1.0
 */
export interface Recipient {
  readonly address: string
  readonly notify?: "NEVER" | ReadonlyArray<SmtpCommand.NotifyCondition> | undefined
  readonly orcpt?: SmtpCommand.OriginalRecipient | undefined
}

/**
 * The envelope of a message (RFC 5321 §3.3): the reverse path (`""` for `<>`), the recipients and
 * the transaction parameters.
 *
 * @category models
 * @since 0.1.0
 */
export interface Envelope {
  readonly from: string
  readonly to: ReadonlyArray<string | Recipient>
  /**
   * Declared size for a streamed message (RFC 1870). Byte messages are measured.
   */
  readonly size?: number | undefined
  /**
   * `BODY=` (RFC 6152, RFC 3030). Default: chosen from the content (8BITMIME for 8-bit bytes,
   * BINARYMIME for NUL bytes; streams declare 8BITMIME whenever the server offers it).
   */
  readonly body?: SmtpCommand.BodyType | undefined
  /**
   * SMTPUTF8 (RFC 6531). Default: on for non-ASCII mailbox names (required) and for messages whose
   * headers are UTF-8 (when offered).
   */
  readonly smtpUtf8?: boolean | undefined
  /** DSN (RFC 3461): what to return, the envelope id, and the default NOTIFY of every recipient. */
  readonly dsn?: {
    readonly ret?: "FULL" | "HDRS" | undefined
    readonly envid?: string | undefined
    readonly notify?: "NEVER" | ReadonlyArray<SmtpCommand.NotifyCondition> | undefined
  } | undefined
  /** REQUIRETLS (RFC 8689): only on a TLS connection with a verified certificate. */
  readonly requireTls?: boolean | undefined
}

/**
 * The message: bytes (a string is sent as UTF-8), or a stream of bytes sent with constant memory.
 * Stream chunks must not be modified after they are emitted.
 *
 * @category models
 * @since 0.1.0
 */
export type Message<E = never, R = never> = Uint8Array | string | Stream.Stream<Uint8Array, E, R>

/**
 * How to send.
 *
 * @category models
 * @since 0.1.0
 */
export interface SendOptions {
  /** Force DATA (or BDAT, which needs CHUNKING). Default: BDAT when CHUNKING is offered. */
  readonly transfer?: "DATA" | "BDAT" | undefined
  /** Set `false` to wait for each reply even when PIPELINING is offered. */
  readonly pipelining?: boolean | undefined
  /** Octets per BDAT chunk. Default 1 MiB. */
  readonly chunkSize?: number | undefined
}

/**
 * What happened to one recipient: its RCPT reply, or (LMTP) its delivery reply.
 *
 * @category models
 * @since 0.1.0
 */
export interface RecipientResult {
  readonly address: string
  readonly accepted: boolean
  readonly code: number
  readonly enhancedCode: string | undefined
  /** Server text: untrusted. */
  readonly untrustedText: string
}

/**
 * A sent message: the server's final reply, and every recipient's fate (partial failure is data).
 *
 * @category models
 * @since 0.1.0
 */
export interface SendResult {
  readonly accepted: ReadonlyArray<string>
  readonly rejected: ReadonlyArray<RecipientResult>
  /** Every recipient, in envelope order. */
  readonly recipients: ReadonlyArray<RecipientResult>
  /** The final reply (LMTP: the first successful delivery's). */
  readonly code: number
  readonly enhancedCode: string | undefined
  readonly untrustedText: string
  readonly transfer: "DATA" | "BDAT"
  /** Octets of message content sent (after line-ending normalisation, without dot-stuffing). */
  readonly size: number
}

const span = <A, E, R>(name: string) => (effect: Effect.Effect<A, E, R>) => Effect.withSpan(effect, name)

/**
 * Opens a STARTTLS-mode connection and reads the greeting (only `220` opens it). The handle is
 * Plain: nothing but `startTls` (or, under dangerous policies, plaintext work) is possible.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = (
  options: Omit<Options, "security">
): Effect.Effect<SmtpConnection<"Plain">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Negotiate.connect("SMTP", options).pipe(span("Smtp.connect"))

/**
 * Opens an implicit-TLS connection (SMTPS, RFC 8314 §3.3, port 465).
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectTls = (
  options: Omit<Options, "security">
): Effect.Effect<SmtpConnection<"Secure">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Negotiate.connectTls("SMTP", options).pipe(span("Smtp.connectTls"))

/**
 * EHLO (if not done yet), STARTTLS and EHLO again over TLS (RFC 3207 §4.2; the plaintext
 * extensions are forgotten). Only `220` starts TLS; `454` is `StartTlsRejected` (retryable), a
 * missing STARTTLS `StartTlsUnavailable`. Any failure closes the connection.
 *
 * @category combinators
 * @since 0.1.0
 */
export const startTls = (
  connection: SmtpConnection<"Plain">
): Effect.Effect<SmtpConnection<"Secure">, MailError.MailError> =>
  Negotiate.startTls(connection).pipe(span("Smtp.startTls"))

/**
 * Connects and makes the connection secure: implicit TLS on 465, else STARTTLS, required (S1).
 *
 * @category constructors
 * @since 0.1.0
 */
export const secure = (
  options: Options
): Effect.Effect<SmtpConnection<"Secure">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Negotiate.secure("SMTP", options).pipe(span("Smtp.secure"))

/**
 * DANGEROUS (needs `TlsPolicy.OpportunisticStartTls`): STARTTLS when the server offers it; when it
 * does not, or refuses it, the connection stays Plain (a `Downgrade` event and a warning). When
 * EHLO is refused, HELO is tried (a HELO session has no extensions). A failed handshake, an odd
 * STARTTLS reply or injected bytes still fail.
 *
 * @category constructors
 * @since 0.1.0
 */
export const opportunistic = (
  options: Omit<Options, "security">
): Effect.Effect<
  SmtpConnection<"Plain"> | SmtpConnection<"Secure">,
  MailError.MailError | SmtpError.SmtpError,
  Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
> => Negotiate.opportunistic("SMTP", options).pipe(span("Smtp.opportunistic"))

/**
 * SASL authentication (RFC 4954) with the strongest mechanism both sides offer, chosen from the
 * extensions learned over TLS, with an initial response. A refusal (`535 5.7.8`) is
 * `AuthenticationFailed` with the code; its text is untrusted. On Plain it needs
 * `TlsPolicy.PlaintextAuth`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const authenticate: <S extends "Plain" | "Secure", E = never>(
  connection: SmtpConnection<S>,
  credentials: Credentials.Credentials<E>,
  options?: Connection.AuthenticateOptions
) => Effect.Effect<SmtpConnection<"Authenticated">, E | MailError.MailError, TlsPolicy.OnPlain<S, TlsPolicy.PlaintextAuth>> =
  Negotiate.authenticate

/**
 * Everything from one configuration: connect, TLS (implicit or STARTTLS, required), EHLO over TLS,
 * and, with credentials, AUTH. Without credentials the handle is Secure.
 *
 * @category constructors
 * @since 0.1.0
 */
export function session<E = never>(
  options: SessionOptions<E> & { readonly credentials: Credentials.Credentials<E> }
): Effect.Effect<SmtpConnection<"Authenticated">, E | MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope>
export function session(
  options: Options & { readonly credentials?: undefined }
): Effect.Effect<SmtpConnection<"Secure">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope>
export function session<E = never>(
  options: SessionOptions<E>
): Effect.Effect<
  SmtpConnection<"Secure"> | SmtpConnection<"Authenticated">,
  E | MailError.MailError | SmtpError.SmtpError,
  Transport | Scope.Scope
>
export function session<E = never>(
  options: SessionOptions<E>
): Effect.Effect<
  SmtpConnection<"Secure"> | SmtpConnection<"Authenticated">,
  E | MailError.MailError | SmtpError.SmtpError,
  Transport | Scope.Scope
> {
  return Effect.flatMap(secure(options), (secured) => {
    const credentials = options.credentials
    if (credentials === undefined) return Effect.succeed<SmtpConnection<"Secure"> | SmtpConnection<"Authenticated">>(secured)
    return Negotiate.authenticate(secured, credentials, options.authenticate).pipe(
      Effect.tapError(() => Connection.close(secured))
    )
  }).pipe(span("Smtp.session"))
}

/**
 * The extensions the server announced over TLS (S4).
 *
 * @category getters
 * @since 0.1.0
 */
export const extensions = (
  connection: SmtpConnection<"Secure"> | SmtpConnection<"Authenticated">
): Effect.Effect<SmtpExtensions.SmtpExtensions, MailError.MailError> =>
  Connection.withSession(connection, Negotiate.extensionsOf)

/**
 * The extensions a Plain connection announced (EHLO sent if not done yet). They arrived in
 * plaintext: an attacker may have changed them, and they are forgotten at STARTTLS (S4). For
 * display and diagnostics; `send` on Plain uses them only under the dangerous policy.
 *
 * @category getters
 * @since 0.1.0
 */
export const untrustedExtensions = (
  connection: SmtpConnection<"Plain">
): Effect.Effect<SmtpExtensions.SmtpExtensions, MailError.MailError> =>
  Connection.withSession(connection, Negotiate.extensionsOf)

/**
 * Sends one message (one mail transaction). Succeeds when the server accepted it for at least one
 * recipient, with every recipient's fate; fails with `SmtpError` when the server refused the
 * transaction, no recipient was accepted, the message needs an extension the server lacks, or the
 * outcome is unknown (`OutcomeUnknown`: the connection failed after the whole message was sent),
 * and with `MailError` when the connection failed before that (the message was not sent). On a
 * Plain connection it needs `TlsPolicy.OpportunisticStartTls`.
 *
 * A failure in the middle of a transaction (broken connection, failing stream, interruption)
 * closes the connection; a refusal leaves it usable for the next message.
 *
 * @category combinators
 * @since 0.1.0
 */
export const send = <S extends Connection.State, E = never, R = never>(
  connection: SmtpConnection<S>,
  envelope: Envelope,
  message: Message<E, R>,
  options?: SendOptions
): Effect.Effect<
  SendResult,
  SmtpError.SmtpError | MailError.MailError | E,
  R | TlsPolicy.OnPlain<S, TlsPolicy.OpportunisticStartTls>
> => Negotiate.send(connection, envelope, message, options, { streamStarted: false })

/**
 * RSET (RFC 5321 §4.1.1.5): abandons any transaction on the server. `send` resets by itself when
 * needed (in the same flight as the next MAIL).
 *
 * @category combinators
 * @since 0.1.0
 */
export const reset = (
  connection: SmtpConnection<"Secure"> | SmtpConnection<"Authenticated">
): Effect.Effect<void, MailError.MailError | SmtpError.SmtpError> =>
  Negotiate.command(connection, "RSET").pipe(span("Smtp.reset"))

/**
 * NOOP (RFC 5321 §4.1.1.9): checks that the server still answers.
 *
 * @category combinators
 * @since 0.1.0
 */
export const noop = (
  connection: SmtpConnection<"Secure"> | SmtpConnection<"Authenticated">
): Effect.Effect<void, MailError.MailError | SmtpError.SmtpError> =>
  Negotiate.command(connection, "NOOP").pipe(span("Smtp.noop"))

/**
 * The TLS session of the connection (`undefined` while it is plaintext).
 *
 * @category getters
 * @since 0.1.0
 */
export const tlsSession = <S extends Connection.State>(connection: SmtpConnection<S>): Tls.TlsSession | undefined =>
  Connection.tlsSession(connection)

/**
 * QUIT and close. Errors are ignored: the connection is closed either way.
 *
 * @category destructors
 * @since 0.1.0
 */
export const close = <S extends Connection.State>(connection: SmtpConnection<S>): Effect.Effect<void> =>
  Connection.close(connection)
