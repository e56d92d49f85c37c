/**
 * In-band compression of a connection: IMAP COMPRESS=DEFLATE (RFC 4978), and any protocol of that
 * shape, where the success reply to one command switches both directions to raw DEFLATE (RFC 1951,
 * no zlib or gzip header) for the rest of the connection.
 *
 * The protocol supplies the command and says what a refusal means (normally `CompressionRejected`:
 * the connection then carries on uncompressed). Core runs it so that the switch happens at the
 * exact byte after the success reply, even when the first compressed bytes arrive in the same read
 * as the reply (`Wire.exact`, `Wire.compress`), under the session lock. From then on every write
 * is deflated and flushed on its own (RFC 4978 §4), received bytes are inflated in bounded pieces
 * (a decompression bomb ends in `LimitExceeded` from the framer, never in unbounded memory), a
 * corrupt stream is a `ProtocolViolation`, and the wire trace still shows plaintext lines.
 *
 * Policy: only on an `Authenticated` handle (in the type, and checked at run time), and only over
 * TLS unless the caller passes `allowWithoutTls` (then a `Downgrade` security event is emitted).
 * Starting compression twice is refused, and so is STARTTLS on a compressed connection (TLS goes
 * beneath compression). A reply that breaks the protocol (a foreign tag, uncompressed bytes after
 * the success reply) leaves the two sides out of step: the session is closed.
 *
 * Does not: check the server's capabilities (the protocol knows where COMPRESS=DEFLATE is
 * advertised), pick a compression level (zlib's default), or compress anything but whole writes.
 *
 * @example
 * ```ts
 * // In a protocol package: `compressCommand` writes "COMPRESS DEFLATE" and reads the tagged reply.
 * yield* Compression.compress(authenticated, compressCommand())
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Connection from "./Connection.ts"
import type * as Dialect from "./Dialect.ts"
import * as MailError from "./MailError.ts"
import * as SecurityEvents from "./SecurityEvents.ts"

/**
 * Options of `compress`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Compress a connection that is not encrypted. Off by default: compression is meant to run
   * inside TLS, and a plaintext connection that is still plaintext after authentication is already
   * a deliberate, dangerous choice of the caller.
   */
  readonly allowWithoutTls?: boolean | undefined
}

const refuse = (detail: string) => Effect.fail(MailError.make(new MailError.PolicyViolation({ detail })))

/**
 * Runs the protocol's compression command and, after its success reply, compresses both
 * directions. Refused with `PolicyViolation` before anything is written when the handle is not
 * authenticated, when the connection is not encrypted (unless `allowWithoutTls`), or when
 * compression is already on. The command's own failure (e.g. `CompressionRejected`) leaves the
 * connection usable, uncompressed. The handle stays valid.
 *
 * @category combinators
 * @since 0.1.0
 */
export const compress = <F, Caps>(
  connection: Connection.Connection<"Authenticated", F, Caps>,
  command: Dialect.Command<F, void>,
  options?: Options
): Effect.Effect<void, MailError.MailError> =>
  Connection.withSession(connection, (session) => {
    // The type says Authenticated; a cast handle is still refused.
    if (session.state !== "Authenticated") return refuse("compression is only allowed after authentication")
    if (session.wire.compressed()) return refuse("compression is already active")
    if (session.wire.tls() === undefined && options?.allowWithoutTls !== true) {
      return refuse("compression without TLS needs allowWithoutTls")
    }
    const wire = session.wire
    const warned = wire.tls() === undefined
      ? SecurityEvents.emit({
        _tag: "Downgrade",
        protocol: session.dialect.name,
        host: session.host,
        reason: "COMPRESS=DEFLATE without TLS (allowWithoutTls)"
      })
      : Effect.void
    return Effect.andThen(
      warned,
      wire.exact(Effect.andThen(Connection.exchange(session, command), wire.compress)).pipe(
        Effect.tapError((error) =>
          error.reason._tag === "ProtocolViolation" ? Connection.abandon(session, error) : Effect.void
        )
      )
    )
  }).pipe(Effect.withSpan("Compression.compress"))

/**
 * Whether the connection behind a handle is compressed.
 *
 * @category getters
 * @since 0.1.0
 */
export const isActive = <S extends Connection.State, F, Caps>(connection: Connection.Connection<S, F, Caps>): boolean =>
  connection.session.wire.compressed()
