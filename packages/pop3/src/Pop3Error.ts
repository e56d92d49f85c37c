/**
 * The error of POP3 operations that the server refused, or whose outcome the client cannot vouch
 * for: `Pop3Error`, whose `reason` says which (STYLE.md rule 7). Everything about the connection,
 * TLS, the negotiation and authentication is a core `MailError` instead.
 *
 * Server text is never part of a message: it is only in `untrustedText` (S10). Response codes
 * (RFC 2449 §8) are kept as sent; on a plaintext connection (dangerous policy) they are as
 * untrusted as the text.
 *
 * Recover with `Effect.catchReason("Pop3Error", "Refused", ...)`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The server answered a command with `-ERR` (RFC 1939 §3), e.g. `RETR` of a message that does not
 * exist or is marked deleted. The session goes on.
 *
 * @category errors
 * @since 0.1.0
 */
export class Refused extends Schema.TaggedError<Refused>("@starttls/pop3/Pop3Error/Refused")("Refused", {
  /** The command keyword, e.g. `"RETR"`. */
  command: Schema.String,
  /** The message number the command named, if any. */
  msg: Schema.optional(Schema.Number),
  /** The extended response code without brackets (`"SYS/TEMP"`, `"IN-USE"` ...), if any. */
  code: Schema.optional(Schema.String),
  untrustedText: Schema.String
}) {
  override get message(): string {
    const msg = this.msg === undefined ? "" : ` ${this.msg}`
    const code = this.code === undefined ? "" : ` [${this.code}]`
    return `POP3 ${this.command}${msg} refused by the server${code}`
  }
}

/**
 * Messages were marked for deletion, but QUIT's `+OK` did not arrive (RFC 1939 §6: deletions
 * happen only in the UPDATE state, which a `+OK` to QUIT confirms; invariant S12). `outcome`:
 *
 * - `"NotDeleted"`: the session ended before QUIT was sent (nothing was deleted).
 * - `"Unknown"`: QUIT was sent but the connection broke before its answer, or the server answered
 *   `-ERR` (RFC 1939 §6: some deleted messages may not have been removed).
 *
 * `marked` are the message numbers of the session that was ending.
 *
 * @category errors
 * @since 0.1.0
 */
export class NotCommitted extends Schema.TaggedError<NotCommitted>("@starttls/pop3/Pop3Error/NotCommitted")(
  "NotCommitted",
  {
    marked: Schema.Array(Schema.Number),
    outcome: Schema.Literals(["NotDeleted", "Unknown"]),
    detail: Schema.String,
    untrustedText: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    return this.outcome === "NotDeleted"
      ? `${this.marked.length} message(s) marked for deletion were NOT deleted: ${this.detail}`
      : `whether ${this.marked.length} message(s) marked for deletion were deleted is unknown: ${this.detail}`
  }
}

/**
 * An argument cannot be put on the wire (CR, LF, NUL or another control character, a space in a
 * user name, a message number that is not a positive integer, a line over 255 octets ...).
 * Nothing was written. `detail` never quotes the value (it may be a secret).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>("@starttls/pop3/Pop3Error/InvalidArgument")(
  "InvalidArgument",
  {
    field: Schema.String,
    detail: Schema.String
  }
) {
  override get message(): string {
    return `cannot send ${this.field}: ${this.detail}`
  }
}

/**
 * Every reason a `Pop3Error` can carry.
 *
 * @category models
 * @since 0.1.0
 */
export const Pop3ErrorReason = Schema.Union([Refused, NotCommitted, InvalidArgument])

/**
 * @category models
 * @since 0.1.0
 */
export type Pop3ErrorReason = typeof Pop3ErrorReason.Type

/**
 * The error of POP3 operations the server refused.
 *
 * @category errors
 * @since 0.1.0
 */
export class Pop3Error extends Schema.TaggedError<Pop3Error>("@starttls/pop3/Pop3Error")("Pop3Error", {
  reason: Pop3ErrorReason
}) {
  override get message(): string {
    return this.reason.message
  }
}

/**
 * Wraps a reason into a `Pop3Error`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (reason: Pop3ErrorReason): Pop3Error => new Pop3Error({ reason })
