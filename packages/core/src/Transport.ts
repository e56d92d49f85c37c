/**
 * The transport service: a byte stream to a host and port that can be upgraded to TLS in place.
 * It knows no protocol. `NodeTransport.layer` implements it over Node sockets; the testkit's
 * `MemoryTransport` over an in-memory duplex with real TLS.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as MailError from "./MailError.ts"
import type * as Tls from "./Tls.ts"

/**
 * Where to connect.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConnectOptions {
  readonly host: string
  readonly port: number
  /** Local address to bind (loopback tests use 127.0.0.2 to look remote to Dovecot). */
  readonly localAddress?: string | undefined
  /** Connect timeout in milliseconds. */
  readonly timeout: number
}

/**
 * A read or write failure of a live connection. The layer above (which knows the phase) turns it
 * into a `MailError` `TransportFailure`.
 *
 * @category errors
 * @since 0.1.0
 */
export class IoError extends Data.TaggedError("IoError")<{
  readonly operation: "read" | "write" | "closed"
  readonly code?: string | undefined
  readonly cause?: unknown
}> {}

/**
 * A live connection. Its lifetime is the `Scope` it was opened in: closing the scope destroys the
 * socket (S9).
 *
 * @category models
 * @since 0.1.0
 */
export interface TransportConnection {
  /** The next bytes from the peer (never empty). A close by the peer is a `TransportFailure`. */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, IoError>
  /** Writes the chunks in one flush (their order and boundaries as given). */
  readonly write: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, IoError>
  /**
   * Switches the connection to TLS in place. Whatever the peer sent and we did not pull yet is fed
   * to the TLS engine (so plaintext injected after a STARTTLS reply breaks the handshake). Possible
   * once; afterwards `pull` and `write` use TLS.
   */
  readonly upgrade: (params: Tls.TlsParams) => Effect.Effect<Tls.TlsSession, MailError.MailError>
  /** The TLS session, once there is one. */
  readonly tls: () => Tls.TlsSession | undefined
  /** Destroys the connection now (also done when the scope closes). */
  readonly destroy: Effect.Effect<void>
}

/**
 * @category services
 * @since 0.1.0
 */
export class Transport extends Context.Service<Transport, {
  readonly connect: (
    options: ConnectOptions
  ) => Effect.Effect<TransportConnection, MailError.MailError, Scope.Scope>
}>()("@starttls/core/Transport") {}
