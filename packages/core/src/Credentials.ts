/**
 * User credentials for authentication: a password, an OAuth 2.0 token (fetched or refreshed at
 * authentication time), or an external identity (a TLS client certificate, SASL EXTERNAL).
 *
 * Secrets are always `Redacted` (S7): the constructors take no plain strings for them, and a
 * credentials value prints no secret through `String(...)`, `JSON.stringify` or `util.inspect`
 * (an OAuth token effect is shown as `<effect>`, never run or serialised).
 *
 * This module does not choose a mechanism or encode anything: see `Sasl.ts`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { NodeInspectSymbol } from "effect/Inspectable"
import * as Redacted from "effect/Redacted"

/**
 * A username and password. `authzid` is the identity to act as (RFC 4422 §2), when it differs
 * from `username` (admin or proxy login); only PLAIN and SCRAM can carry it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Password {
  readonly _tag: "Password"
  readonly username: string
  readonly password: Redacted.Redacted<string>
  readonly authzid?: string | undefined
}

/**
 * An OAuth 2.0 bearer token for `username`. `token` runs at authentication time, so it can fetch
 * or refresh the token; its error `E` becomes an error of the authentication.
 *
 * @category models
 * @since 0.1.0
 */
export interface OAuth2<E = never> {
  readonly _tag: "OAuth2"
  readonly username: string
  readonly token: Effect.Effect<Redacted.Redacted<string>, E>
}

/**
 * An identity established outside SASL (a TLS client certificate): SASL EXTERNAL, RFC 4422
 * Appendix A. `authzid` is sent when set, otherwise the server derives the identity.
 *
 * @category models
 * @since 0.1.0
 */
export interface External {
  readonly _tag: "External"
  readonly authzid?: string | undefined
}

/**
 * An OAuth 2.0 token once fetched: what the SASL machines consume (`resolve`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Bearer {
  readonly _tag: "Bearer"
  readonly username: string
  readonly token: Redacted.Redacted<string>
}

/**
 * Credentials as users give them.
 *
 * @category models
 * @since 0.1.0
 */
export type Credentials<E = never> = Password | OAuth2<E> | External

/**
 * Credentials with every secret at hand (no effect left to run).
 *
 * @category models
 * @since 0.1.0
 */
export type Resolved = Password | Bearer | External

const REDACTED = "<redacted>"

// What printing shows: the tag and the non-secret fields; secrets as "<redacted>", effects as
// "<effect>". Used by toJSON, toString and util.inspect alike.
function safeView(this: Password | OAuth2<unknown> | External | Bearer): Record<string, unknown> {
  switch (this._tag) {
    case "Password":
      return this.authzid === undefined
        ? { _tag: this._tag, username: this.username, password: REDACTED }
        : { _tag: this._tag, username: this.username, authzid: this.authzid, password: REDACTED }
    case "OAuth2":
      return { _tag: this._tag, username: this.username, token: "<effect>" }
    case "Bearer":
      return { _tag: this._tag, username: this.username, token: REDACTED }
    case "External":
      return this.authzid === undefined ? { _tag: this._tag } : { _tag: this._tag, authzid: this.authzid }
  }
}

const Proto = {
  toJSON: safeView,
  [NodeInspectSymbol]: safeView,
  toString(this: Password | OAuth2<unknown> | External | Bearer): string {
    return `Credentials.${this._tag}(${JSON.stringify(safeView.call(this))})`
  }
}

const make = <A extends object>(fields: A): A => Object.assign(Object.create(Proto) as A, fields)

/**
 * Password credentials.
 *
 * @example
 * ```ts
 * import * as Credentials from "@starttls/core/Credentials"
 * import * as Redacted from "effect/Redacted"
 *
 * const creds = Credentials.password({ username: "me", password: Redacted.make("hunter2") })
 * String(creds) // Credentials.Password({"_tag":"Password","username":"me","password":"<redacted>"})
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const password = (options: {
  readonly username: string
  readonly password: Redacted.Redacted<string>
  readonly authzid?: string | undefined
}): Password =>
  make(
    options.authzid === undefined
      ? { _tag: "Password" as const, username: options.username, password: options.password }
      : { _tag: "Password" as const, username: options.username, password: options.password, authzid: options.authzid }
  )

/**
 * OAuth 2.0 credentials. `token` is either a token at hand or an effect that fetches (refreshes)
 * one at authentication time.
 *
 * @category constructors
 * @since 0.1.0
 */
export const oauth2 = <E = never>(options: {
  readonly username: string
  readonly token: Effect.Effect<Redacted.Redacted<string>, E> | Redacted.Redacted<string>
}): OAuth2<E> =>
  make({
    _tag: "OAuth2" as const,
    username: options.username,
    token: Redacted.isRedacted(options.token) ? Effect.succeed(options.token) : options.token
  })

/**
 * External credentials (SASL EXTERNAL over a TLS client certificate).
 *
 * @category constructors
 * @since 0.1.0
 */
export const external = (options?: { readonly authzid?: string | undefined }): External =>
  make(
    options?.authzid === undefined
      ? { _tag: "External" as const }
      : { _tag: "External" as const, authzid: options.authzid }
  )

/**
 * A fetched OAuth 2.0 token (the resolved form of `oauth2`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const bearer = (options: { readonly username: string; readonly token: Redacted.Redacted<string> }): Bearer =>
  make({ _tag: "Bearer" as const, username: options.username, token: options.token })

/**
 * Runs what credentials need at authentication time (fetches an OAuth token) and returns the
 * form the SASL machines take. Password and external credentials are returned as they are.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolve = <E = never>(credentials: Credentials<E> | Resolved): Effect.Effect<Resolved, E> =>
  credentials._tag === "OAuth2"
    ? Effect.map(credentials.token, (token) => bearer({ username: credentials.username, token }))
    : Effect.succeed(credentials)
