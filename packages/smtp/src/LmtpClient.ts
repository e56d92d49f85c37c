/**
 * The LMTP client (RFC 2033): SMTP's transaction with `LHLO` instead of `EHLO` and, after the end of
 * the message, one reply per accepted recipient (RFC 2033 §4.2): each recipient's delivery is data
 * in the `SendResult` (`recipients[i]` holds the delivery reply of a recipient accepted at RCPT).
 *
 * The connection rules are SMTP's: STARTTLS is required by default (many LMTP servers listen on
 * loopback without TLS; talking to one in plaintext needs `opportunistic` and the dangerous
 * `TlsPolicy.OpportunisticStartTls` layer, which is then visible in the program's type). There is
 * no HELO fallback. `send`, `reset`, `noop` and `close` are `SmtpClient`'s: they work on LMTP
 * handles as they are.
 *
 * @since 0.1.0
 */
import type * as Connection from "@starttls/core/Connection"
import type * as MailError from "@starttls/core/MailError"
import type * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Negotiate from "./internal/negotiate.ts"
import * as SmtpClient from "./SmtpClient.ts"
import type * as SmtpError from "./SmtpError.ts"

/**
 * An LMTP connection in state `S` (the same handle type as SMTP's).
 *
 * @category models
 * @since 0.1.0
 */
export type LmtpConnection<S extends Connection.State> = SmtpClient.SmtpConnection<S>

/**
 * Opens a connection and reads the `220` greeting; the handle is Plain.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connect = (
  options: Omit<SmtpClient.Options, "security">
): Effect.Effect<LmtpConnection<"Plain">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Negotiate.connect("LMTP", options).pipe(Effect.withSpan("Lmtp.connect"))

/**
 * Connects and makes the connection secure (STARTTLS required, or implicit TLS when
 * `security: "implicit-tls"`), with LHLO before and after STARTTLS.
 *
 * @category constructors
 * @since 0.1.0
 */
export const secure = (
  options: SmtpClient.Options
): Effect.Effect<LmtpConnection<"Secure">, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> =>
  Negotiate.secure("LMTP", options).pipe(Effect.withSpan("Lmtp.secure"))

/**
 * DANGEROUS (needs `TlsPolicy.OpportunisticStartTls`): STARTTLS when offered, else the session stays
 * Plain with a `Downgrade` event (the usual case for a loopback LMTP server).
 *
 * @category constructors
 * @since 0.1.0
 */
export const opportunistic = (
  options: Omit<SmtpClient.Options, "security">
): Effect.Effect<
  LmtpConnection<"Plain"> | LmtpConnection<"Secure">,
  MailError.MailError | SmtpError.SmtpError,
  Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
> => Negotiate.opportunistic("LMTP", options).pipe(Effect.withSpan("Lmtp.opportunistic"))

/**
 * STARTTLS and LHLO again over TLS; any failure closes the connection.
 *
 * @category combinators
 * @since 0.1.0
 */
export const startTls: (connection: LmtpConnection<"Plain">) => Effect.Effect<LmtpConnection<"Secure">, MailError.MailError> =
  SmtpClient.startTls

/**
 * Delivers one message; see `SmtpClient.send`. Each accepted recipient's delivery reply is in
 * `recipients`; the message fails with `NoRecipientAccepted` only when no delivery succeeded.
 *
 * @category combinators
 * @since 0.1.0
 */
export const send: typeof SmtpClient.send = SmtpClient.send

/**
 * QUIT and close.
 *
 * @category destructors
 * @since 0.1.0
 */
export const close: typeof SmtpClient.close = SmtpClient.close
