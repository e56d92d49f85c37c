/**
 * The error of SMTP / LMTP mail operations: `SmtpError`, whose `reason` says what happened (STYLE.md
 * rule 7). Everything about the connection, TLS, the negotiation and authentication is core's
 * `MailError`; `SmtpError` covers the mail transaction:
 *
 * - `Transient` / `Permanent`: the server refused a command (4yz / 5yz, RFC 5321 §4.2.1), with the
 *   reply code, the RFC 3463 enhanced status code and the server's text (untrusted, S10).
 * - `NoRecipientAccepted`: every recipient was refused; nothing was sent.
 * - `ExtensionUnavailable`: the message needs an extension the server did not announce
 *   (8BITMIME, SMTPUTF8, BINARYMIME, DSN, REQUIRETLS ...); nothing was sent.
 * - `MessageTooLarge`: the message is larger than the server's declared SIZE; nothing was sent.
 * - `InvalidArgument`: an address, parameter or option cannot be encoded (CR, LF, NUL, grammar);
 *   nothing was written.
 * - `OutcomeUnknown`: the connection failed after the whole message had been sent and before the
 *   server's final reply: the server may or may not have accepted it (RFC 5321 §4.1.1.4, RFC 1047).
 *   Never report such a message as sent, and think twice before sending it again.
 *
 * A `send` that fails with anything but `OutcomeUnknown` did not deliver the message.
 *
 * Recover with `Effect.catchReason("SmtpError", "Transient", ...)`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const describe = (code: number, enhancedCode: string | undefined) =>
  enhancedCode === undefined ? `${code}` : `${code} ${enhancedCode}`

/**
 * The server refused a command temporarily (4yz): the same command may succeed later.
 * `command` is `MAIL`, `RCPT`, `DATA`, `BDAT`, `message` (the reply to the end of the data),
 * `RSET`, `NOOP`, `EHLO` or `HELO`.
 *
 * @category errors
 * @since 0.1.0
 */
export class Transient extends Schema.TaggedError<Transient>("@starttls/smtp/SmtpError/Transient")("Transient", {
  command: Schema.String,
  code: Schema.Number,
  enhancedCode: Schema.optional(Schema.String),
  untrustedText: Schema.String
}) {
  override get message(): string {
    return `the server refused ${this.command} temporarily (${describe(this.code, this.enhancedCode)})`
  }
}

/**
 * The server refused a command permanently (5yz): repeating it unchanged will fail again.
 *
 * @category errors
 * @since 0.1.0
 */
export class Permanent extends Schema.TaggedError<Permanent>("@starttls/smtp/SmtpError/Permanent")("Permanent", {
  command: Schema.String,
  code: Schema.Number,
  enhancedCode: Schema.optional(Schema.String),
  untrustedText: Schema.String
}) {
  override get message(): string {
    return `the server refused ${this.command} (${describe(this.code, this.enhancedCode)})`
  }
}

/**
 * How one recipient was refused (RCPT, or an LMTP delivery reply).
 *
 * @category models
 * @since 0.1.0
 */
export const Refusal = Schema.Struct({
  address: Schema.String,
  code: Schema.Number,
  enhancedCode: Schema.optional(Schema.String),
  untrustedText: Schema.String
})

/**
 * @category models
 * @since 0.1.0
 */
export type Refusal = typeof Refusal.Type

/**
 * Every recipient was refused, so no message was sent. `transient` is true when every refusal
 * was a 4yz (trying again later may work).
 *
 * @category errors
 * @since 0.1.0
 */
export class NoRecipientAccepted extends Schema.TaggedError<NoRecipientAccepted>(
  "@starttls/smtp/SmtpError/NoRecipientAccepted"
)("NoRecipientAccepted", {
  refusals: Schema.Array(Refusal)
}) {
  get transient(): boolean {
    return this.refusals.length > 0 && this.refusals.every((r) => r.code >= 400 && r.code < 500)
  }
  override get message(): string {
    const codes = this.refusals.map((r) => describe(r.code, r.enhancedCode))
    return `no recipient was accepted (${codes.join(", ")}); nothing was sent`
  }
}

/**
 * The message needs an extension the server did not announce (or, for REQUIRETLS, a verified
 * TLS connection it does not have). Nothing was sent.
 *
 * @category errors
 * @since 0.1.0
 */
export class ExtensionUnavailable extends Schema.TaggedError<ExtensionUnavailable>(
  "@starttls/smtp/SmtpError/ExtensionUnavailable"
)("ExtensionUnavailable", {
  extension: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.extension} is needed but not available: ${this.detail}`
  }
}

/**
 * The message is larger than the limit the server declared with SIZE (RFC 1870 §4). Nothing was
 * sent.
 *
 * @category errors
 * @since 0.1.0
 */
export class MessageTooLarge extends Schema.TaggedError<MessageTooLarge>("@starttls/smtp/SmtpError/MessageTooLarge")(
  "MessageTooLarge",
  {
    size: Schema.Number,
    max: Schema.Number
  }
) {
  override get message(): string {
    return `the message (${this.size} octets) is larger than the server accepts (${this.max} octets)`
  }
}

/**
 * An argument cannot be sent: CR, LF or NUL (command injection), an address or parameter that
 * breaks its grammar, an empty recipient list. Nothing was written.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>("@starttls/smtp/SmtpError/InvalidArgument")(
  "InvalidArgument",
  {
    field: Schema.String,
    detail: Schema.String
  }
) {
  override get message(): string {
    return `invalid ${this.field}: ${this.detail}`
  }
}

/**
 * The connection failed after the end of the message was sent and before the server's final
 * reply (or, for LMTP, before every recipient's reply): the message may or may not have been
 * accepted. `delivered` lists LMTP recipients whose delivery was confirmed before the failure.
 *
 * @category errors
 * @since 0.1.0
 */
export class OutcomeUnknown extends Schema.TaggedError<OutcomeUnknown>("@starttls/smtp/SmtpError/OutcomeUnknown")(
  "OutcomeUnknown",
  {
    detail: Schema.String,
    delivered: Schema.Array(Schema.String),
    cause: Schema.optional(Schema.Defect())
  }
) {
  override get message(): string {
    return `the connection failed while waiting for the reply to the message; it may or may not have been accepted (${this.detail})`
  }
}

/**
 * Every reason an `SmtpError` can carry.
 *
 * @category models
 * @since 0.1.0
 */
export const SmtpErrorReason = Schema.Union([
  Transient,
  Permanent,
  NoRecipientAccepted,
  ExtensionUnavailable,
  MessageTooLarge,
  InvalidArgument,
  OutcomeUnknown
])

/**
 * @category models
 * @since 0.1.0
 */
export type SmtpErrorReason = typeof SmtpErrorReason.Type

/**
 * The error of mail transactions.
 *
 * @category errors
 * @since 0.1.0
 */
export class SmtpError extends Schema.TaggedError<SmtpError>("@starttls/smtp/SmtpError")("SmtpError", {
  reason: SmtpErrorReason
}) {
  override get message(): string {
    return this.reason.message
  }
}

/**
 * Wraps a reason into an `SmtpError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (reason: SmtpErrorReason): SmtpError => new SmtpError({ reason })

/**
 * Whether a failed operation may be tried again on a new connection without risking a duplicate:
 * a `Transient` refusal of code 421 (the server is closing the connection, RFC 5321 §3.8).
 *
 * @category guards
 * @since 0.1.0
 */
export const isServiceClosing = (error: SmtpError): boolean =>
  error.reason._tag === "Transient" && error.reason.code === 421
