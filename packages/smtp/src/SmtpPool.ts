/**
 * A pool of authenticated SMTP sessions for sending many messages: at most `maxConnections`
 * connections, each used for at most `maxMessagesPerConnection` messages (then QUIT), closed after
 * `idleTimeout` without use, and replaced when it breaks.
 *
 * Reconnecting is safe by construction: a message is sent again on a new connection only when it
 * certainly was not accepted (the connection failed before the end of the message was written, or
 * the server answered 421 "closing"), and only when the message can be replayed (bytes, or a
 * stream that was not read yet). `OutcomeUnknown` is never retried: it may have been delivered.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const pool = yield* SmtpPool.SmtpPool
 *   yield* Effect.forEach(messages, (m) => pool.send(m.envelope, m.bytes), { concurrency: 5 })
 * }).pipe(Effect.provide(SmtpPool.layer({ host, port: 587, credentials })), Effect.provide(NodeTransport.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Connection from "@starttls/core/Connection"
import type * as Credentials from "@starttls/core/Credentials"
import * as MailError from "@starttls/core/MailError"
import type { Transport } from "@starttls/core/Transport"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Pool from "effect/Pool"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Negotiate from "./internal/negotiate.ts"
import type * as Transaction from "./internal/transaction.ts"
import * as SmtpClient from "./SmtpClient.ts"
import * as SmtpError from "./SmtpError.ts"

/**
 * The pool's configuration: one session configuration (as `SmtpClient.session`) and the pool's
 * limits.
 *
 * @category models
 * @since 0.1.0
 */
export interface Config extends SmtpClient.Options {
  /** Credentials for AUTH (token effects must not fail: handle their errors first). */
  readonly credentials?: Credentials.Credentials<never> | undefined
  readonly authenticate?: Connection.AuthenticateOptions | undefined
  /** Most open connections. Default 5. */
  readonly maxConnections?: number | undefined
  /** Messages per connection before it is closed with QUIT and replaced. Default 100. */
  readonly maxMessagesPerConnection?: number | undefined
  /** A connection unused this long is closed (checked once per period). Default 30 seconds. */
  readonly idleTimeout?: Duration.Input | undefined
  /** New connections tried for a message that certainly was not accepted. Default 2. */
  readonly retries?: number | undefined
}

/**
 * Sends messages over pooled connections.
 *
 * @category services
 * @since 0.1.0
 */
export class SmtpPool extends Context.Service<SmtpPool, {
  /** `SmtpClient.send` on a pooled connection, reconnecting when that is safe. */
  readonly send: <E = never, R = never>(
    envelope: SmtpClient.Envelope,
    message: SmtpClient.Message<E, R>,
    options?: SmtpClient.SendOptions
  ) => Effect.Effect<SmtpClient.SendResult, SmtpError.SmtpError | MailError.MailError | E, R>
}>()("@starttls/smtp/SmtpPool") {}

interface Item {
  readonly connection: SmtpClient.SmtpConnection<"Secure"> | SmtpClient.SmtpConnection<"Authenticated">
  sent: number
}

// The connection broke or the server is closing it: the connection is useless.
const broken = (error: unknown): boolean =>
  (error instanceof MailError.MailError &&
    (error.reason._tag === "TransportFailure" || error.reason._tag === "Timeout" ||
      error.reason._tag === "StaleConnection")) ||
  (error instanceof SmtpError.SmtpError && SmtpError.isServiceClosing(error))

/**
 * Builds a pool in the current scope (closing the scope sends QUIT on every connection).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config): Effect.Effect<SmtpPool["Service"], never, Transport | Scope.Scope> =>
  Effect.gen(function*() {
    const maxMessages = config.maxMessagesPerConnection ?? 100
    const retries = config.retries ?? 2
    const acquire: Effect.Effect<Item, MailError.MailError | SmtpError.SmtpError, Transport | Scope.Scope> = Effect
      .acquireRelease(
        SmtpClient.session(config),
        (connection) => SmtpClient.close(connection)
      ).pipe(Effect.map((connection): Item => ({ connection, sent: 0 })))
    const pool = yield* Pool.makeWithTTL({
      acquire,
      min: 0,
      max: Math.max(1, config.maxConnections ?? 5),
      timeToLive: config.idleTimeout ?? Duration.seconds(30),
      timeToLiveStrategy: "usage"
    })

    const attempt = <E, R>(
      envelope: SmtpClient.Envelope,
      message: SmtpClient.Message<E, R>,
      options: SmtpClient.SendOptions | undefined,
      progress: Transaction.Progress
    ) =>
      Pool.use(pool, (item) =>
        Negotiate.send(item.connection, envelope, message, options, progress).pipe(
          Effect.tap(() => {
            item.sent++
            return item.sent >= maxMessages ? Pool.invalidate(pool, item) : Effect.void
          }),
          Effect.tapError((error) =>
            broken(error) || Connection.runtimeState(item.connection) === "Closed"
              ? Pool.invalidate(pool, item)
              : Effect.void
          )
        ))

    const send = <E = never, R = never>(
      envelope: SmtpClient.Envelope,
      message: SmtpClient.Message<E, R>,
      options?: SmtpClient.SendOptions
    ): Effect.Effect<SmtpClient.SendResult, SmtpError.SmtpError | MailError.MailError | E, R> => {
      const replayable = !Stream.isStream(message)
      const loop = (left: number): Effect.Effect<SmtpClient.SendResult, SmtpError.SmtpError | MailError.MailError | E, R> => {
        const progress: Transaction.Progress = { streamStarted: false }
        return attempt(envelope, message, options, progress).pipe(
          Effect.catch((error) =>
            left > 0 && broken(error) && (replayable || !progress.streamStarted)
              ? loop(left - 1)
              : Effect.fail(error)
          )
        )
      }
      return loop(retries).pipe(Effect.withSpan("SmtpPool.send"))
    }

    return SmtpPool.of({ send })
  })

/**
 * The pool as a layer; its connections live as long as the layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (config: Config): Layer.Layer<SmtpPool, never, Transport> => Layer.effect(SmtpPool, make(config))
