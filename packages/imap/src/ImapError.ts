/**
 * The error of IMAP operations that the server refused or that cannot be sent: `ImapError`, whose
 * `reason` says which. Everything about the connection itself (transport, TLS, negotiation,
 * authentication, limits, protocol violations) is core's `MailError`.
 *
 * Server text is never part of a message: it is kept in fields named `untrustedText` (S10), for
 * diagnostics only. A referral (RFC 2221 `[REFERRAL url]`) is reported, never followed
 * (ATTACKS.md A20).
 *
 * Recover with `Effect.catchReason("ImapError", "No", ...)`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The server refused the command: tagged `NO` (RFC 9051 §7.1.2). `code` is the response code's
 * name (`TRYCREATE`, `NONEXISTENT`, `OVERQUOTA` ...), when there was one.
 *
 * @category errors
 * @since 0.1.0
 */
export class No extends Schema.TaggedError<No>("@starttls/imap/ImapError/No")("No", {
  command: Schema.String,
  code: Schema.optional(Schema.String),
  untrustedText: Schema.String
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` [${this.code}]`
    return `IMAP ${this.command} refused by the server (NO${code})`
  }
}

/**
 * The server rejected the command as invalid or unsupported: tagged `BAD` (RFC 9051 §7.1.3).
 *
 * @category errors
 * @since 0.1.0
 */
export class Bad extends Schema.TaggedError<Bad>("@starttls/imap/ImapError/Bad")("Bad", {
  command: Schema.String,
  code: Schema.optional(Schema.String),
  untrustedText: Schema.String
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` [${this.code}]`
    return `IMAP ${this.command} rejected as invalid by the server (BAD${code})`
  }
}

/**
 * The server said `* BYE` while a command ran (RFC 9051 §7.1.5): it is closing the connection.
 *
 * @category errors
 * @since 0.1.0
 */
export class Bye extends Schema.TaggedError<Bye>("@starttls/imap/ImapError/Bye")("Bye", {
  command: Schema.String,
  untrustedText: Schema.String
}) {
  override get message(): string {
    return `IMAP ${this.command}: the server closed the session (BYE)`
  }
}

/**
 * The server refused the command with a referral to another server (RFC 2221, `NO [REFERRAL url]`).
 * The library never follows referrals: `url` is server-controlled, for the caller to judge.
 *
 * @category errors
 * @since 0.1.0
 */
export class Referral extends Schema.TaggedError<Referral>("@starttls/imap/ImapError/Referral")("Referral", {
  command: Schema.String,
  url: Schema.String
}) {
  override get message(): string {
    return `IMAP ${this.command}: the server referred the client elsewhere; referrals are not followed`
  }
}

/**
 * An argument cannot be sent (CR, LF or NUL where the grammar allows none, an invalid flag, a
 * message larger than APPENDLIMIT ...): nothing was written.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>("@starttls/imap/ImapError/InvalidArgument")(
  "InvalidArgument",
  {
    command: Schema.String,
    field: Schema.String,
    detail: Schema.String
  }
) {
  override get message(): string {
    return `IMAP ${this.command}: invalid ${this.field}: ${this.detail}`
  }
}

/**
 * The command needs a capability the server does not advertise (over TLS), e.g. UID EXPUNGE
 * without UIDPLUS, MOVE without MOVE. Nothing was written.
 *
 * @category errors
 * @since 0.1.0
 */
export class MissingCapability extends Schema.TaggedError<MissingCapability>(
  "@starttls/imap/ImapError/MissingCapability"
)("MissingCapability", {
  command: Schema.String,
  capability: Schema.String
}) {
  override get message(): string {
    return `IMAP ${this.command} needs the ${this.capability} capability, which the server does not advertise`
  }
}

/**
 * An APPEND message stream did not deliver the size it announced. The literal cannot be completed,
 * so the connection was closed; the message was not stored.
 *
 * @category errors
 * @since 0.1.0
 */
export class SizeMismatch extends Schema.TaggedError<SizeMismatch>("@starttls/imap/ImapError/SizeMismatch")(
  "SizeMismatch",
  {
    command: Schema.String,
    announced: Schema.Number,
    actual: Schema.Number
  }
) {
  override get message(): string {
    return `IMAP ${this.command}: the message stream gave ${this.actual} bytes, ${this.announced} were announced; connection closed`
  }
}

/**
 * What the command was asked for does not exist, although the server answered OK: e.g. a FETCH
 * of a UID that no message has (RFC 9051 §6.4.8: a UID FETCH of a missing UID returns no data).
 *
 * @category errors
 * @since 0.1.0
 */
export class NotFound extends Schema.TaggedError<NotFound>("@starttls/imap/ImapError/NotFound")("NotFound", {
  command: Schema.String,
  what: Schema.String
}) {
  override get message(): string {
    return `IMAP ${this.command}: ${this.what} does not exist`
  }
}

/**
 * The command is not allowed in the connection's current state although its handle type allows
 * it (e.g. ENABLE after a mailbox was selected, RFC 5161 §3.1; a QRESYNC select before `ENABLE
 * QRESYNC`, RFC 7162 §3.2.5). Nothing was written.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidState extends Schema.TaggedError<InvalidState>("@starttls/imap/ImapError/InvalidState")(
  "InvalidState",
  {
    command: Schema.String,
    detail: Schema.String
  }
) {
  override get message(): string {
    return `IMAP ${this.command} is not allowed now: ${this.detail}`
  }
}

/**
 * Every reason an `ImapError` can carry.
 *
 * @category models
 * @since 0.1.0
 */
export const ImapErrorReason = Schema.Union([
  No,
  Bad,
  Bye,
  Referral,
  InvalidArgument,
  MissingCapability,
  SizeMismatch,
  NotFound,
  InvalidState
])

/**
 * @category models
 * @since 0.1.0
 */
export type ImapErrorReason = typeof ImapErrorReason.Type

/**
 * The error of IMAP operations the server refused or that could not be sent.
 *
 * @category errors
 * @since 0.1.0
 */
export class ImapError extends Schema.TaggedError<ImapError>("@starttls/imap/ImapError")("ImapError", {
  reason: ImapErrorReason
}) {
  override get message(): string {
    return this.reason.message
  }
}

/**
 * Wraps a reason into an `ImapError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (reason: ImapErrorReason): ImapError => new ImapError({ reason })

/**
 * The error of a command the server's capabilities do not allow (nothing was written).
 *
 * @category constructors
 * @since 0.1.0
 */
export const missingCapability = (command: string, capability: string): ImapError =>
  make(new MissingCapability({ command, capability }))
