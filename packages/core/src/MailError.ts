/**
 * The one error every connection-level operation of every protocol fails with: `MailError`, whose
 * `reason` says what happened (STYLE.md rule 7). Protocol packages add their own error class for
 * server refusals (IMAP `NO`, SMTP `5xx` ...) but reuse these reasons for everything that is about the
 * connection, TLS, the negotiation and authentication.
 *
 * Server-authored text is never part of a message: fields that carry it are named `untrusted*` and
 * are only for diagnostics (S10).
 *
 * Recover with `Effect.catchReason("MailError", "TlsFailure", ...)`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Where in the life of a connection something happened. Used by timeouts, transport failures and
 * spans.
 *
 * @category models
 * @since 0.1.0
 */
export const Phase = Schema.Literals([
  "connect",
  "greeting",
  "capabilities",
  "starttls",
  "handshake",
  "authenticate",
  "command",
  "data",
  "idle",
  "close"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Phase = typeof Phase.Type

/**
 * The connection broke: could not connect, a read or write failed, the peer closed.
 *
 * @category errors
 * @since 0.1.0
 */
export class TransportFailure extends Schema.TaggedError<TransportFailure>(
  "@starttls/core/MailError/TransportFailure"
)("TransportFailure", {
  phase: Phase,
  operation: Schema.Literals(["connect", "read", "write", "closed"]),
  code: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` (${this.code})`
    return this.operation === "closed"
      ? `connection closed by the peer during ${this.phase}${code}`
      : `${this.operation} failed during ${this.phase}${code}`
  }
}

/**
 * A wait ran past its deadline (S9). Every wait has one; `phase` says which.
 *
 * @category errors
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>("@starttls/core/MailError/Timeout")("Timeout", {
  phase: Phase,
  millis: Schema.Number,
  hint: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const hint = this.hint === undefined ? "" : `: ${this.hint}`
    return `timed out after ${this.millis} ms during ${this.phase}${hint}`
  }
}

/**
 * Why a TLS handshake failed.
 *
 * - `CertificateUntrusted`: the chain does not lead to a trusted root (self-signed, unknown CA).
 * - `CertificateExpired`: expired or not yet valid.
 * - `HostnameMismatch`: the certificate is not valid for the configured host name.
 * - `PinMismatch`: the certificate is valid but not one of the pinned ones.
 * - `ProtocolVersion`: no acceptable TLS version (we require TLS 1.2 or newer).
 * - `NotTls`: the peer sent bytes that are not TLS records (after STARTTLS: plaintext injected into
 *   the handshake; on an implicit-TLS connection see `SecurityModeMismatch`).
 * - `Handshake`: any other handshake failure.
 *
 * @category models
 * @since 0.1.0
 */
export const TlsFailureKind = Schema.Literals([
  "CertificateUntrusted",
  "CertificateExpired",
  "HostnameMismatch",
  "PinMismatch",
  "ProtocolVersion",
  "NotTls",
  "Handshake"
])

/**
 * @category models
 * @since 0.1.0
 */
export type TlsFailureKind = typeof TlsFailureKind.Type

/**
 * The TLS handshake failed (S5). `code` is the underlying OpenSSL/Node code.
 *
 * @category errors
 * @since 0.1.0
 */
export class TlsFailure extends Schema.TaggedError<TlsFailure>("@starttls/core/MailError/TlsFailure")("TlsFailure", {
  kind: TlsFailureKind,
  code: Schema.optional(Schema.String),
  host: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` (${this.code})`
    switch (this.kind) {
      case "CertificateUntrusted":
        return `TLS: the certificate of ${this.host} is not trusted${code}`
      case "CertificateExpired":
        return `TLS: the certificate of ${this.host} has expired or is not yet valid${code}`
      case "HostnameMismatch":
        return `TLS: the certificate is not valid for ${this.host}${code}`
      case "PinMismatch":
        return `TLS: the certificate of ${this.host} matches none of the pinned certificates`
      case "ProtocolVersion":
        return `TLS: ${this.host} offers no acceptable TLS version (1.2 or newer required)${code}`
      case "NotTls":
        return `TLS: ${this.host} sent bytes that are not TLS during the handshake${code}`
      case "Handshake":
        return `TLS handshake with ${this.host} failed${code}`
    }
  }
}

/**
 * The port speaks another security mode than the one the client used: a TLS record where a
 * plaintext greeting was expected, or a plaintext greeting where a TLS ServerHello was expected
 * ("wrong version number").
 *
 * @category errors
 * @since 0.1.0
 */
export class SecurityModeMismatch extends Schema.TaggedError<SecurityModeMismatch>(
  "@starttls/core/MailError/SecurityModeMismatch"
)("SecurityModeMismatch", {
  port: Schema.Number,
  clientMode: Schema.Literals(["implicit-tls", "starttls"]),
  serverSpeaks: Schema.Literals(["implicit-tls", "plaintext"])
}) {
  override get message(): string {
    return this.serverSpeaks === "plaintext"
      ? `port ${this.port} speaks plaintext (use STARTTLS on it), but the client started TLS immediately`
      : `port ${this.port} speaks implicit TLS (TLS from the first byte), but the client expected a plaintext greeting`
  }
}

/**
 * STARTTLS was not offered and the policy requires TLS (S1). Nothing was written after the probe.
 *
 * @category errors
 * @since 0.1.0
 */
export class StartTlsUnavailable extends Schema.TaggedError<StartTlsUnavailable>(
  "@starttls/core/MailError/StartTlsUnavailable"
)("StartTlsUnavailable", {
  protocol: Schema.String
}) {
  override get message(): string {
    return `${this.protocol}: the server does not offer STARTTLS and the policy requires TLS`
  }
}

/**
 * The server answered the STARTTLS command with something other than success (S1). The reply
 * arrived in plaintext, so its text is untrusted (S10).
 *
 * @category errors
 * @since 0.1.0
 */
export class StartTlsRejected extends Schema.TaggedError<StartTlsRejected>(
  "@starttls/core/MailError/StartTlsRejected"
)("StartTlsRejected", {
  protocol: Schema.String,
  retryable: Schema.Boolean,
  code: Schema.optional(Schema.String),
  untrustedReply: Schema.String
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` (${this.code})`
    return `${this.protocol}: the server refused STARTTLS${code}${this.retryable ? ", temporarily" : ""}`
  }
}

/**
 * Bytes followed the STARTTLS success reply before the TLS handshake (S3, the response injection of
 * CVE-2021-22947 and friends). The connection is closed without starting TLS. `preview` is an
 * escaped excerpt of the injected bytes (never credentials: nothing was sent yet).
 *
 * @category errors
 * @since 0.1.0
 */
export class StartTlsInjection extends Schema.TaggedError<StartTlsInjection>(
  "@starttls/core/MailError/StartTlsInjection"
)("StartTlsInjection", {
  pendingBytes: Schema.Number,
  preview: Schema.String
}) {
  override get message(): string {
    return `${this.pendingBytes} plaintext byte(s) followed the STARTTLS reply before TLS started (injection attempt); connection closed`
  }
}

/**
 * The capability re-query over TLS failed or returned nothing (S4). The plaintext set is never used
 * instead.
 *
 * @category errors
 * @since 0.1.0
 */
export class CapabilitiesUnavailable extends Schema.TaggedError<CapabilitiesUnavailable>(
  "@starttls/core/MailError/CapabilitiesUnavailable"
)("CapabilitiesUnavailable", {
  protocol: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.protocol}: no capabilities after TLS: ${this.detail}`
  }
}

/**
 * The server greeted with a rejection (IMAP BYE, POP3 -ERR, SMTP 554 ...). Untrusted text.
 *
 * @category errors
 * @since 0.1.0
 */
export class GreetingRejected extends Schema.TaggedError<GreetingRejected>(
  "@starttls/core/MailError/GreetingRejected"
)("GreetingRejected", {
  protocol: Schema.String,
  untrustedText: Schema.String
}) {
  override get message(): string {
    return `${this.protocol}: the server refused the connection in its greeting`
  }
}

/**
 * An IMAP-style "already authenticated" greeting on a plaintext connection under a policy that
 * requires TLS (S6).
 *
 * @category errors
 * @since 0.1.0
 */
export class PreauthOnPlaintext extends Schema.TaggedError<PreauthOnPlaintext>(
  "@starttls/core/MailError/PreauthOnPlaintext"
)("PreauthOnPlaintext", {
  protocol: Schema.String
}) {
  override get message(): string {
    return `${this.protocol}: the server claims a pre-authenticated session on a plaintext connection; refused`
  }
}

/**
 * No SASL mechanism (or login command) both sides can use, from the capabilities learned over TLS
 * (S11), after the caller's restriction.
 *
 * @category errors
 * @since 0.1.0
 */
export class NoUsableMechanism extends Schema.TaggedError<NoUsableMechanism>(
  "@starttls/core/MailError/NoUsableMechanism"
)("NoUsableMechanism", {
  offered: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `no usable authentication mechanism (server offers: ${this.offered.join(" ") || "none"}): ${this.detail}`
  }
}

/**
 * The server rejected the credentials, or the SASL exchange failed (SCRAM server signature wrong,
 * malformed challenge ...).
 *
 * @category errors
 * @since 0.1.0
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>(
  "@starttls/core/MailError/AuthenticationFailed"
)("AuthenticationFailed", {
  mechanism: Schema.String,
  code: Schema.optional(Schema.String),
  detail: Schema.String,
  untrustedReply: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` (${this.code})`
    return `authentication with ${this.mechanism} failed${code}: ${this.detail}`
  }
}

/**
 * A configured limit was exceeded (S8). `limit` names the option.
 *
 * @category errors
 * @since 0.1.0
 */
export class LimitExceeded extends Schema.TaggedError<LimitExceeded>("@starttls/core/MailError/LimitExceeded")(
  "LimitExceeded",
  {
    limit: Schema.String,
    max: Schema.Number,
    actual: Schema.Number
  }
) {
  override get message(): string {
    return `${this.limit} exceeded: ${this.actual} > ${this.max}`
  }
}

/**
 * The server broke the protocol (malformed reply, a tagged reply for a tag not in flight, a
 * continuation where none was expected ...). `preview` is escaped, untrusted text.
 *
 * @category errors
 * @since 0.1.0
 */
export class ProtocolViolation extends Schema.TaggedError<ProtocolViolation>(
  "@starttls/core/MailError/ProtocolViolation"
)("ProtocolViolation", {
  phase: Phase,
  detail: Schema.String,
  preview: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `protocol violation during ${this.phase}: ${this.detail}`
  }
}

/**
 * A connection handle was used after a transition consumed it (typestate enforced at run time), or
 * after the connection was closed.
 *
 * @category errors
 * @since 0.1.0
 */
export class StaleConnection extends Schema.TaggedError<StaleConnection>(
  "@starttls/core/MailError/StaleConnection"
)("StaleConnection", {
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `stale connection handle: it was a ${this.expected} handle, the connection is now ${this.actual}`
  }
}

/**
 * The operation is not allowed by the security policy at run time (e.g. LOGINDISABLED advertised,
 * a capability the operation needs is missing, a plaintext operation without the dangerous layer).
 *
 * @category errors
 * @since 0.1.0
 */
export class PolicyViolation extends Schema.TaggedError<PolicyViolation>(
  "@starttls/core/MailError/PolicyViolation"
)("PolicyViolation", {
  detail: Schema.String
}) {
  override get message(): string {
    return `refused by policy: ${this.detail}`
  }
}

/**
 * The server refused to start in-band compression (IMAP `NO`/`BAD` to COMPRESS, RFC 4978 §3). The
 * connection carries on uncompressed. The reply text is untrusted (S10).
 *
 * @category errors
 * @since 0.1.0
 */
export class CompressionRejected extends Schema.TaggedError<CompressionRejected>(
  "@starttls/core/MailError/CompressionRejected"
)("CompressionRejected", {
  protocol: Schema.String,
  code: Schema.optional(Schema.String),
  untrustedReply: Schema.String
}) {
  override get message(): string {
    const code = this.code === undefined ? "" : ` (${this.code})`
    return `${this.protocol}: the server refused compression${code}`
  }
}

/**
 * Every reason a `MailError` can carry.
 *
 * @category models
 * @since 0.1.0
 */
export const MailErrorReason = Schema.Union([
  TransportFailure,
  Timeout,
  TlsFailure,
  SecurityModeMismatch,
  StartTlsUnavailable,
  StartTlsRejected,
  StartTlsInjection,
  CapabilitiesUnavailable,
  GreetingRejected,
  PreauthOnPlaintext,
  NoUsableMechanism,
  AuthenticationFailed,
  LimitExceeded,
  ProtocolViolation,
  StaleConnection,
  PolicyViolation,
  CompressionRejected
])

/**
 * @category models
 * @since 0.1.0
 */
export type MailErrorReason = typeof MailErrorReason.Type

/**
 * The error of every connection-level operation.
 *
 * @category errors
 * @since 0.1.0
 */
export class MailError extends Schema.TaggedError<MailError>("@starttls/core/MailError")("MailError", {
  reason: MailErrorReason
}) {
  override get message(): string {
    return this.reason.message
  }
}

/**
 * Wraps a reason into a `MailError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (reason: MailErrorReason): MailError => new MailError({ reason })
