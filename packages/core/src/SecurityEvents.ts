/**
 * Security-relevant events: every downgrade the policy allowed, plaintext authentication, disabled
 * certificate checks, and plaintext text that was dropped instead of being shown as server text.
 * By default each is logged (warnings for downgrades); provide `SecurityEvents.layer(f)` to also
 * collect them (audit logs, metrics, tests).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @category models
 * @since 0.1.0
 */
export type SecurityEvent =
  | {
    /** The session continues without TLS (opportunistic policy). */
    readonly _tag: "Downgrade"
    readonly protocol: string
    readonly host: string
    readonly reason: string
  }
  | {
    /** Credentials are being sent without TLS (plaintext-auth policy). */
    readonly _tag: "PlaintextAuthentication"
    readonly protocol: string
    readonly host: string
    readonly mechanism: string
  }
  | {
    /** The certificate was not verified (`dangerouslyAcceptInvalidCertificates`). */
    readonly _tag: "CertificateVerificationDisabled"
    readonly protocol: string
    readonly host: string
  }
  | {
    /** Text received in plaintext that a server may only say over TLS (e.g. an IMAP ALERT) was dropped. */
    readonly _tag: "UntrustedPlaintextNotice"
    readonly protocol: string
    readonly host: string
    readonly detail: string
  }

/**
 * Where events go (in addition to the log).
 *
 * @category services
 * @since 0.1.0
 */
export const SecurityEvents = Context.Reference<(event: SecurityEvent) => Effect.Effect<void>>(
  "@starttls/core/SecurityEvents",
  { defaultValue: () => () => Effect.void }
)

const describe = (event: SecurityEvent): string => {
  switch (event._tag) {
    case "Downgrade":
      return `${event.protocol} ${event.host}: continuing WITHOUT TLS (${event.reason})`
    case "PlaintextAuthentication":
      return `${event.protocol} ${event.host}: sending credentials (${event.mechanism}) WITHOUT TLS`
    case "CertificateVerificationDisabled":
      return `${event.protocol} ${event.host}: TLS certificate NOT verified`
    case "UntrustedPlaintextNotice":
      return `${event.protocol} ${event.host}: ignored plaintext notice (${event.detail})`
  }
}

/**
 * Logs the event (warning, or debug for ignored plaintext notices) and hands it to the sink.
 *
 * @category constructors
 * @since 0.1.0
 */
export const emit = (event: SecurityEvent): Effect.Effect<void> =>
  SecurityEvents.use((sink) =>
    Effect.andThen(
      event._tag === "UntrustedPlaintextNotice"
        ? Effect.logDebug(describe(event))
        : Effect.logWarning(describe(event)),
      sink(event)
    )
  )

/**
 * Sends events to `f` as well as to the log.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (f: (event: SecurityEvent) => Effect.Effect<void>): Layer.Layer<never> =>
  Layer.succeed(SecurityEvents, f)
