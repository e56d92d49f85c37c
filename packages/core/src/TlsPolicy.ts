/**
 * The TLS policy, as layers. The default needs no layer at all: TLS is required (RFC 2595 privacy
 * mode, RFC 8314), by STARTTLS on 143/110/587/25 and implicitly on 993/995/465.
 *
 * The dangerous choices are services that only exist when their explicitly named layer is
 * provided, so a program that needs one does not type-check (cannot be run) until somebody writes
 * the name in the layer graph:
 *
 * - `PlaintextAuth` (layer `allowPlaintextAuthDangerously`): `authenticate` on a Plain connection.
 * - `OpportunisticStartTls` (layer `opportunisticStartTlsDangerously`): carry on in plaintext when
 *   STARTTLS is not offered or is refused, and send mail content over a Plain connection.
 *
 * Each use emits a `SecurityEvents` event and a warning log.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * Permission to send credentials over a connection without TLS.
 *
 * @category services
 * @since 0.1.0
 */
export class PlaintextAuth extends Context.Service<PlaintextAuth, {
  readonly dangerous: true
}>()("@starttls/core/TlsPolicy/PlaintextAuth") {}

/**
 * Permission to continue without TLS when the server does not offer it or refuses it.
 *
 * @category services
 * @since 0.1.0
 */
export class OpportunisticStartTls extends Context.Service<OpportunisticStartTls, {
  readonly dangerous: true
}>()("@starttls/core/TlsPolicy/OpportunisticStartTls") {}

/**
 * DANGEROUS: allows `authenticate` on a Plain connection. Anyone on the path reads the password.
 *
 * @category layers
 * @since 0.1.0
 */
export const allowPlaintextAuthDangerously: Layer.Layer<PlaintextAuth> = Layer.succeed(
  PlaintextAuth,
  PlaintextAuth.of({ dangerous: true })
)

/**
 * DANGEROUS: opportunistic STARTTLS. The session silently stays in plaintext when an attacker strips
 * STARTTLS; the connection remains typed Plain, so credentials still need `PlaintextAuth`.
 *
 * @category layers
 * @since 0.1.0
 */
export const opportunisticStartTlsDangerously: Layer.Layer<OpportunisticStartTls> = Layer.succeed(
  OpportunisticStartTls,
  OpportunisticStartTls.of({ dangerous: true })
)

/**
 * How a connection gets TLS: from the first byte, or by STARTTLS.
 *
 * @category models
 * @since 0.1.0
 */
export type SecurityMode = "implicit-tls" | "starttls"

/**
 * The mode used when a connection does not name one: `"auto"` derives it from the port (the
 * dialect's implicit-TLS ports, e.g. 993/995/465, else STARTTLS).
 *
 * @category services
 * @since 0.1.0
 */
export const DefaultSecurityMode = Context.Reference<"auto" | SecurityMode>("@starttls/core/TlsPolicy/DefaultSecurityMode", {
  defaultValue: () => "auto"
})

/**
 * Implicit TLS for connections that do not name a mode.
 *
 * @category layers
 * @since 0.1.0
 */
export const implicitTls: Layer.Layer<never> = Layer.succeed(DefaultSecurityMode, "implicit-tls")

/**
 * STARTTLS (required) for connections that do not name a mode, whatever the port.
 *
 * @category layers
 * @since 0.1.0
 */
export const requireStartTls: Layer.Layer<never> = Layer.succeed(DefaultSecurityMode, "starttls")

/**
 * The requirement a Plain connection adds to an operation: `Plain` needs `Service`, other states need
 * nothing. Protocol packages type their Plain-capable operations with it.
 *
 * @category models
 * @since 0.1.0
 */
export type OnPlain<S extends string, Service> = "Plain" extends S ? Service : never
