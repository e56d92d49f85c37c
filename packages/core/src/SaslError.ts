/**
 * The error of the pure SASL state machines (`Sasl.ts`) and of mechanism choice.
 *
 * A cheap `Data.TaggedError` (the machines run without the Effect runtime), with a `reason` that
 * says what went wrong. The client maps it into `MailError.AuthenticationFailed` (or
 * `MailError.NoUsableMechanism` for the `NoUsableMechanism` reason).
 *
 * What a `SaslError` never contains: a password, a token, a SCRAM proof or key, or any other byte
 * of a response. `detail` is text written by this library; anything the server said is only in
 * `untrustedServerText`, escaped and at most 64 characters (S10), and never in `message`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Why a SASL exchange (or the choice of a mechanism) failed.
 *
 * - `NoUsableMechanism`: no mechanism both sides support fits the credentials and restrictions.
 * - `UnsupportedCredentials`: the mechanism cannot use these credentials (PLAIN with a token, ...).
 * - `InvalidUsername`: the username or authorization identity cannot be encoded (NUL, a separator
 *   the mechanism reserves, SASLprep failure, empty, ill-formed UTF-16).
 * - `InvalidSecret`: the password or token cannot be encoded (same causes; the secret is never
 *   quoted).
 * - `InvalidInput`: another input is unusable (SCRAM nonce, OAUTHBEARER host or port, mechanism
 *   name).
 * - `MalformedChallenge`: the server's challenge does not match the mechanism's grammar.
 * - `UnexpectedChallenge`: a challenge arrived when the mechanism expects none.
 * - `UnexpectedSuccess`: the server reported success before the client finished its part.
 * - `NonceMismatch`: the SCRAM server nonce does not extend the client nonce (RFC 5802 §5.1).
 * - `IterationCountTooLow` / `IterationCountTooHigh`: the SCRAM iteration count is outside the
 *   accepted range (default 4096 ... 1,000,000; RFC 5802 §5.1, RFC 7677 §4).
 * - `ServerSignatureMismatch`: the SCRAM server signature is wrong or missing: the server did not
 *   prove it knows the password, so the session is not trusted even if the server says success.
 * - `ChannelBindingUnavailable`: a `-PLUS` mechanism without `tls-exporter` data.
 * - `ServerError`: the server reported an error inside the exchange (SCRAM `e=`, the JSON status of
 *   XOAUTH2 / OAUTHBEARER). Its text is in `untrustedServerText`.
 *
 * @category models
 * @since 0.1.0
 */
export type Reason =
  | "NoUsableMechanism"
  | "UnsupportedCredentials"
  | "InvalidUsername"
  | "InvalidSecret"
  | "InvalidInput"
  | "MalformedChallenge"
  | "UnexpectedChallenge"
  | "UnexpectedSuccess"
  | "NonceMismatch"
  | "IterationCountTooLow"
  | "IterationCountTooHigh"
  | "ServerSignatureMismatch"
  | "ChannelBindingUnavailable"
  | "ServerError"

/**
 * A failed SASL step. `mechanism` is the mechanism name (empty for `NoUsableMechanism`).
 *
 * @category errors
 * @since 0.1.0
 */
export class SaslError extends Data.TaggedError("SaslError")<{
  readonly reason: Reason
  readonly mechanism: string
  readonly detail: string
  readonly untrustedServerText?: string | undefined
}> {
  override get message(): string {
    return this.mechanism === ""
      ? `${this.reason}: ${this.detail}`
      : `${this.mechanism} ${this.reason}: ${this.detail}`
  }
}
