/**
 * SASL (RFC 4422) client mechanisms as pure state machines, and the choice of a mechanism.
 *
 * Nothing here touches a socket, base64-encodes for a protocol, or runs an effect: the protocol
 * clients frame the steps (IMAP AUTHENTICATE, SMTP AUTH, POP3 AUTH) and call
 *
 * ```
 * start(name, input)        -> Result<Initial, SaslError>   initial response (client-first mechanisms)
 * step(state, challenge)    -> Result<Step, SaslError>      one response per server challenge
 * finish(state, data?)      -> Result<void, SaslError>      on the server's success, with its
 *                                                          "additional data" if the protocol carried some
 * ```
 *
 * Every state is a plain, `_tag`ged, immutable value; every response is `Redacted` bytes (the raw
 * SASL message, before the protocol's base64). A `SaslError` from `step` means: cancel the
 * exchange (IMAP `*`, SMTP/POP3 `*`) and fail. A `SaslError` from `finish` means: authentication
 * failed even though the server said success (SCRAM without a valid server signature).
 *
 * Mechanisms:
 * - client-first, with an initial response: PLAIN (RFC 4616), EXTERNAL (RFC 4422 Appendix A),
 *   XOAUTH2 (Google), OAUTHBEARER (RFC 7628), SCRAM-SHA-1 (RFC 5802), SCRAM-SHA-256 (RFC 7677),
 *   SCRAM-SHA-256-PLUS with `tls-exporter` channel binding (RFC 5802 §6, RFC 9266).
 * - server-first: LOGIN (draft-murchison-sasl-login: the client sends the username in answer to
 *   the first challenge and the password in answer to the second, whatever the prompt text says;
 *   no authorization identity), CRAM-MD5 (RFC 2195).
 *
 * When the protocol cannot send an initial response (IMAP without SASL-IR), `start` is called
 * with `initialResponse: false`: the response is held until the server's first (empty) challenge,
 * RFC 4422 §5 item 2a, whose content is ignored.
 *
 * SCRAM: the server signature is always verified, whether it arrives as a last challenge
 * (`v=...`, answered with an empty response) or as additional data with success (RFC 4954 §4,
 * RFC 4959, RFC 5034 §4 allow both). A missing or wrong signature fails, even after a server
 * success. Usernames and passwords go through SASLprep (RFC 4013; see `internal/sasl/saslprep.ts`
 * for the implemented subset), usernames are escaped (`=` → `=3D`, `,` → `=2C`). PLAIN, LOGIN and
 * CRAM-MD5 send the strings as UTF-8 without preparation (the server prepares them, RFC 4616 §2).
 *
 * SCRAM and CRAM-MD5 use `node:crypto` (synchronous PBKDF2 and HMAC).
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Credentials from "./Credentials.ts"
import * as Bearer from "./internal/sasl/bearer.ts"
import * as Scram from "./internal/sasl/scram.ts"
import * as Simple from "./internal/sasl/simple.ts"
import * as Text from "./internal/sasl/text.ts"
import type { SaslError } from "./SaslError.ts"

/**
 * The mechanisms implemented here, by their IANA names.
 *
 * @category models
 * @since 0.1.0
 */
export type MechanismName =
  | "SCRAM-SHA-256-PLUS"
  | "SCRAM-SHA-256"
  | "SCRAM-SHA-1"
  | "PLAIN"
  | "LOGIN"
  | "CRAM-MD5"
  | "XOAUTH2"
  | "OAUTHBEARER"
  | "EXTERNAL"

/**
 * The SCRAM family.
 *
 * @category models
 * @since 0.1.0
 */
export type ScramName = "SCRAM-SHA-256-PLUS" | "SCRAM-SHA-256" | "SCRAM-SHA-1"

/**
 * What `start` needs. Only `credentials` is required; the rest applies to some mechanisms.
 *
 * @category models
 * @since 0.1.0
 */
export interface Input {
  /** Credentials with their secrets at hand (`Credentials.resolve`). */
  readonly credentials: Credentials.Resolved
  /**
   * Whether the command that starts the exchange carries the initial response (SMTP AUTH, POP3
   * AUTH: yes; IMAP: with SASL-IR). Default `true`.
   */
  readonly initialResponse?: boolean | undefined
  /**
   * SCRAM client nonce: printable ASCII without `,` (RFC 5802 §5.1). Default `makeNonce()`. Give
   * one to make an exchange reproducible (tests); never reuse one.
   */
  readonly nonce?: string | undefined
  /**
   * RFC 9266 `tls-exporter` channel binding data of the TLS session (`TlsSession.channelBinding`):
   * required by `-PLUS`; for plain SCRAM it makes the client send the `y` flag (RFC 5802 §6) when
   * `offered` lacks the `-PLUS` variant.
   */
  readonly channelBinding?: Uint8Array | undefined
  /** The mechanisms the server offered (SCRAM's `y`/`n` channel binding flag). */
  readonly offered?: ReadonlyArray<string> | undefined
  /** OAUTHBEARER `host` and `port` (RFC 7628 §3.1), sent when given. */
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** SCRAM iteration count accepted from the server. Default 4096 (RFC 5802 §5.1, RFC 7677 §4). */
  readonly minIterations?: number | undefined
  /** Upper bound on the SCRAM iteration count (a server could make PBKDF2 run for hours). Default 1,000,000. */
  readonly maxIterations?: number | undefined
}

/**
 * A client-first mechanism whose initial response waits for the server's first challenge
 * (`initialResponse: false`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Deferred {
  readonly _tag: "Deferred"
  readonly mechanism: MechanismName
  readonly initial: Redacted.Redacted<Uint8Array>
  readonly next: State
}

/**
 * The client has said everything; the next server message must be the outcome.
 *
 * @category models
 * @since 0.1.0
 */
export interface Complete {
  readonly _tag: "Complete"
  readonly mechanism: MechanismName
}

/**
 * LOGIN, waiting for the username prompt.
 *
 * @category models
 * @since 0.1.0
 */
export interface LoginUsername {
  readonly _tag: "LoginUsername"
  readonly mechanism: "LOGIN"
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/**
 * LOGIN, waiting for the password prompt.
 *
 * @category models
 * @since 0.1.0
 */
export interface LoginPassword {
  readonly _tag: "LoginPassword"
  readonly mechanism: "LOGIN"
  readonly password: Redacted.Redacted<string>
}

/**
 * CRAM-MD5, waiting for the server's challenge.
 *
 * @category models
 * @since 0.1.0
 */
export interface CramMd5 {
  readonly _tag: "CramMd5"
  readonly mechanism: "CRAM-MD5"
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/**
 * XOAUTH2 / OAUTHBEARER: the token was sent; a challenge now is the server's error report.
 *
 * @category models
 * @since 0.1.0
 */
export interface BearerSent {
  readonly _tag: "BearerSent"
  readonly mechanism: "XOAUTH2" | "OAUTHBEARER"
}

/**
 * XOAUTH2 / OAUTHBEARER: the server reported an error and the client acknowledged it; the server
 * must now answer with a failure.
 *
 * @category models
 * @since 0.1.0
 */
export interface BearerRejected {
  readonly _tag: "BearerRejected"
  readonly mechanism: "XOAUTH2" | "OAUTHBEARER"
  readonly untrustedServerText: string
}

/**
 * SCRAM, client-first message sent, waiting for server-first.
 *
 * @category models
 * @since 0.1.0
 */
export interface ScramFirst {
  readonly _tag: "ScramFirst"
  readonly mechanism: ScramName
  readonly clientNonce: string
  readonly clientFirstBare: string
  /** The `c=` attribute: base64 of the GS2 header and, for `-PLUS`, the channel binding data. */
  readonly channelBinding: string
  /** The SASLprep-ed password. */
  readonly password: Redacted.Redacted<string>
  readonly minIterations: number
  readonly maxIterations: number
}

/**
 * SCRAM, client-final message sent, waiting for the server signature.
 *
 * @category models
 * @since 0.1.0
 */
export interface ScramFinal {
  readonly _tag: "ScramFinal"
  readonly mechanism: ScramName
  readonly serverSignature: Redacted.Redacted<Uint8Array>
}

/**
 * Any state of any mechanism.
 *
 * @category models
 * @since 0.1.0
 */
export type State =
  | Deferred
  | Complete
  | LoginUsername
  | LoginPassword
  | CramMd5
  | BearerSent
  | BearerRejected
  | ScramFirst
  | ScramFinal

/**
 * The start of an exchange. `response` is the initial response to send with the command, or
 * `undefined` (server-first mechanism, or `initialResponse: false`). An empty response is a
 * zero-length array, distinct from none (IMAP and SMTP send it as `=`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Initial {
  readonly state: State
  readonly response: Redacted.Redacted<Uint8Array> | undefined
}

/**
 * The answer to a challenge. `done` says the client has nothing more to say: the next server
 * message must be the outcome. `untrustedServerError` is set when the challenge was the server's
 * error report (XOAUTH2 / OAUTHBEARER JSON): the response acknowledges it, and a failure follows.
 *
 * @category models
 * @since 0.1.0
 */
export interface Step {
  readonly state: State
  readonly response: Redacted.Redacted<Uint8Array>
  readonly done: boolean
  readonly untrustedServerError?: string | undefined
}

/**
 * A mechanism: its name, what it needs, and its machine.
 *
 * @category models
 * @since 0.1.0
 */
export interface Mechanism {
  readonly name: MechanismName
  /** Whether the client speaks first (has an initial response). */
  readonly clientFirst: boolean
  /** Which resolved credentials it takes. */
  readonly credentials: Credentials.Resolved["_tag"]
  /** Whether it can carry an authorization identity (`authzid`). */
  readonly authzid: boolean
  /** Whether it needs `tls-exporter` channel binding data. */
  readonly channelBinding: boolean
  readonly start: (input: Input) => Result.Result<Initial, SaslError>
  readonly step: (state: State, challenge: Uint8Array) => Result.Result<Step, SaslError>
  readonly finish: (state: State, data?: Uint8Array | undefined) => Result.Result<void, SaslError>
}

/**
 * A fresh SCRAM client nonce: 24 random bytes (`node:crypto`), base64. Impure: call it once per
 * exchange.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeNonce: () => string = Scram.makeNonce

/**
 * Answers a server challenge.
 *
 * @category encoding
 * @since 0.1.0
 */
export const step = (state: State, challenge: Uint8Array): Result.Result<Step, SaslError> => {
  switch (state._tag) {
    case "Deferred":
      // RFC 4422 §5 2a: the server asks for the initial response with an (empty) challenge.
      return Result.succeed({ state: state.next, response: state.initial, done: state.next._tag === "Complete" })
    case "LoginUsername":
    case "LoginPassword":
      return Simple.loginStep(state)
    case "CramMd5":
      return Simple.cramMd5Step(state, challenge)
    case "BearerSent":
      return Result.succeed(Bearer.onError(state, challenge))
    case "ScramFirst":
      return Scram.clientFinal(state, challenge)
    case "ScramFinal":
      return Result.map(
        Scram.verify(state, challenge),
        (): Step => ({ state: complete(state.mechanism), response: Text.empty(), done: true })
      )
    case "Complete":
    case "BearerRejected":
      return Text.fail("UnexpectedChallenge", state.mechanism, "the server sent a challenge after the last response")
  }
}

/**
 * Checks the server's success. `data` is the additional data that came with it (a SCRAM
 * server-final message), if the protocol carried any; other mechanisms ignore it.
 *
 * @category decoding
 * @since 0.1.0
 */
export const finish = (state: State, data?: Uint8Array | undefined): Result.Result<void, SaslError> => {
  switch (state._tag) {
    case "Complete":
    case "BearerSent":
      return Result.void
    case "ScramFinal":
      return data === undefined || data.length === 0
        ? Text.fail(
          "ServerSignatureMismatch",
          state.mechanism,
          "the server reported success without proving it knows the password (no server signature)"
        )
        : Scram.verify(state, data)
    case "BearerRejected":
      return Text.fail(
        "ServerError",
        state.mechanism,
        "the server reported success after rejecting the token",
        state.untrustedServerText
      )
    case "Deferred":
    case "LoginUsername":
    case "LoginPassword":
    case "CramMd5":
    case "ScramFirst":
      return Text.fail("UnexpectedSuccess", state.mechanism, "the server reported success before the exchange ended")
  }
}

const complete = (mechanism: MechanismName): Complete => ({ _tag: "Complete", mechanism })

/**
 * Holds the initial response back until the server's first (empty) challenge (RFC 4422 §5 2a), as
 * `start` does with `initialResponse: false`: for protocols that decide once they know how long the
 * response is (an AUTH line has a length limit: RFC 5034 §4, RFC 4954 §4). Nothing to hold: as is.
 *
 * @category combinators
 * @since 0.1.0
 */
export const defer = (initial: Initial): Initial =>
  initial.response === undefined ? initial : {
    state: { _tag: "Deferred", mechanism: initial.state.mechanism, initial: initial.response, next: initial.state },
    response: undefined
  }

const make = (
  name: MechanismName,
  props: Pick<Mechanism, "clientFirst" | "credentials" | "authzid" | "channelBinding">,
  open: (input: Input) => Result.Result<Text.Opening, SaslError>
): Mechanism => ({
  name,
  ...props,
  start: (input) =>
    Result.map(open(input), ({ initial, state }): Initial => {
      if (initial === undefined) return { state, response: undefined }
      const started: Initial = { state, response: Text.secret(initial) }
      return input.initialResponse === false ? defer(started) : started
    }),
  step,
  finish
})

const password = { credentials: "Password", channelBinding: false } as const

/**
 * Every mechanism, by name.
 *
 * @category models
 * @since 0.1.0
 */
export const mechanisms: { readonly [N in MechanismName]: Mechanism } = {
  "SCRAM-SHA-256-PLUS": make(
    "SCRAM-SHA-256-PLUS",
    { clientFirst: true, credentials: "Password", authzid: true, channelBinding: true },
    (input) => Scram.start("SCRAM-SHA-256-PLUS", input)
  ),
  "SCRAM-SHA-256": make(
    "SCRAM-SHA-256",
    { ...password, clientFirst: true, authzid: true },
    (input) => Scram.start("SCRAM-SHA-256", input)
  ),
  "SCRAM-SHA-1": make(
    "SCRAM-SHA-1",
    { ...password, clientFirst: true, authzid: true },
    (input) => Scram.start("SCRAM-SHA-1", input)
  ),
  PLAIN: make("PLAIN", { ...password, clientFirst: true, authzid: true }, Simple.plainStart),
  LOGIN: make("LOGIN", { ...password, clientFirst: false, authzid: false }, Simple.loginStart),
  "CRAM-MD5": make("CRAM-MD5", { ...password, clientFirst: false, authzid: false }, Simple.cramMd5Start),
  XOAUTH2: make(
    "XOAUTH2",
    { clientFirst: true, credentials: "Bearer", authzid: false, channelBinding: false },
    (input) => Bearer.start("XOAUTH2", input)
  ),
  OAUTHBEARER: make(
    "OAUTHBEARER",
    { clientFirst: true, credentials: "Bearer", authzid: false, channelBinding: false },
    (input) => Bearer.start("OAUTHBEARER", input)
  ),
  EXTERNAL: make(
    "EXTERNAL",
    { clientFirst: true, credentials: "External", authzid: true, channelBinding: false },
    Simple.externalStart
  )
}

/**
 * The implemented mechanism with this name (case-insensitive), or `undefined`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const mechanism = (name: string): Mechanism | undefined => {
  const upper = name.toUpperCase()
  return Object.hasOwn(mechanisms, upper) ? mechanisms[upper as MechanismName] : undefined
}

/**
 * Starts an exchange with the named mechanism (case-insensitive).
 *
 * @example
 * ```ts
 * import * as Credentials from "@starttls/core/Credentials"
 * import * as Sasl from "@starttls/core/Sasl"
 * import * as Redacted from "effect/Redacted"
 *
 * const credentials = Credentials.password({ username: "tim", password: Redacted.make("tanstaaftanstaaf") })
 * const initial = Sasl.start("PLAIN", { credentials }) // response: "\0tim\0tanstaaftanstaaf"
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = (name: string, input: Input): Result.Result<Initial, SaslError> => {
  const found = mechanism(name)
  return found === undefined
    ? Text.fail("InvalidInput", "", "unknown or unsupported mechanism")
    : found.start(input)
}

/**
 * What `choose` looks at.
 *
 * @category models
 * @since 0.1.0
 */
export interface ChooseOptions {
  /** The server's mechanisms, from capabilities learned over TLS (the caller guarantees it, S4). */
  readonly offered: ReadonlyArray<string>
  /** Only the kind of credentials and the presence of an `authzid` matter. */
  readonly credentials: Credentials.Credentials<unknown> | Credentials.Resolved
  /** The caller's restriction: only these mechanisms (case-insensitive). Does not change the order. */
  readonly allowed?: ReadonlyArray<string> | undefined
  /** Whether the transport can give `tls-exporter` channel binding data (TLS 1.3). */
  readonly channelBinding: boolean
  /** IMAP LOGINDISABLED (or any reason not to send LOGIN): LOGIN is never chosen (S11). */
  readonly loginDisabled?: boolean | undefined
  /**
   * Whether the exchange runs over TLS. Default `true`. `false` only under the dangerous
   * plaintext-authentication policy: then CRAM-MD5 goes before PLAIN and LOGIN.
   */
  readonly secure?: boolean | undefined
}

/**
 * Password mechanisms, strongest first, on a TLS connection.
 *
 * - SCRAM first: the password never leaves the client, the server proves it knows the password
 *   (mutual authentication), and `-PLUS` binds the exchange to this TLS session (a TLS-terminating
 *   man in the middle with a mis-issued certificate cannot relay it). SHA-256 before SHA-1.
 * - Then PLAIN, then LOGIN: both reveal the password to the TLS peer, which is the verified
 *   server; PLAIN is standard, carries an `authzid` and has no prompt parsing.
 * - CRAM-MD5 last: over verified TLS it protects nothing more, it needs a plaintext-equivalent
 *   secret on the server (servers that advertise it fail for users whose password is stored
 *   hashed), HMAC-MD5 responses allow offline dictionary attacks, it has no `authzid` and no defined
 *   handling of non-ASCII passwords.
 *
 * @category models
 * @since 0.1.0
 */
export const passwordPreference: ReadonlyArray<MechanismName> = [
  "SCRAM-SHA-256-PLUS",
  "SCRAM-SHA-256",
  "SCRAM-SHA-1",
  "PLAIN",
  "LOGIN",
  "CRAM-MD5"
]

/**
 * Password mechanisms, strongest first, without TLS (only under the dangerous plaintext policy):
 * a passive eavesdropper learns the password from PLAIN and LOGIN, but only a dictionary-attackable
 * digest from CRAM-MD5, so CRAM-MD5 goes before them.
 *
 * @category models
 * @since 0.1.0
 */
export const plaintextPasswordPreference: ReadonlyArray<MechanismName> = [
  "SCRAM-SHA-256-PLUS",
  "SCRAM-SHA-256",
  "SCRAM-SHA-1",
  "CRAM-MD5",
  "PLAIN",
  "LOGIN"
]

/**
 * Client-first mechanisms whose messages do not depend on what the server offers, so they can be
 * started before (or without) learning the server's list when the caller names one: over verified
 * TLS the only peer is the server itself, which refuses a mechanism it does not support. Not
 * SCRAM without `-PLUS` (its GS2 flag says whether the server offered `-PLUS`, RFC 5802 §6), not
 * LOGIN (IMAP LOGINDISABLED, S11), not CRAM-MD5 (server-first).
 *
 * @category models
 * @since 0.1.0
 */
export const offerIndependent: ReadonlyArray<MechanismName> = [
  "PLAIN",
  "EXTERNAL",
  "XOAUTH2",
  "OAUTHBEARER",
  "SCRAM-SHA-256-PLUS"
]

/**
 * The mechanism of a caller's list that names exactly one of `offerIndependent` (any case), which
 * may then start without the server's list; `undefined` otherwise.
 *
 * @category models
 * @since 0.1.0
 */
export const independentOf = (mechanisms: ReadonlyArray<string> | undefined): MechanismName | undefined => {
  if (mechanisms === undefined || mechanisms.length !== 1) return undefined
  const named = mechanisms[0]!.toUpperCase()
  return offerIndependent.find((m) => m === named)
}

/**
 * Token mechanisms, strongest first: the standard OAUTHBEARER (RFC 7628) before Google's XOAUTH2.
 *
 * @category models
 * @since 0.1.0
 */
export const tokenPreference: ReadonlyArray<MechanismName> = ["OAUTHBEARER", "XOAUTH2"]

/**
 * Chooses the strongest mechanism both sides support (S11) that fits the credentials: the order
 * is `passwordPreference` (or `plaintextPasswordPreference` when `secure` is `false`),
 * `tokenPreference`, and EXTERNAL only for external credentials. `-PLUS` needs `channelBinding`;
 * an `authzid` rules out LOGIN and CRAM-MD5; `loginDisabled` rules out LOGIN; `allowed` restricts.
 *
 * @category constructors
 * @since 0.1.0
 */
export const choose = (options: ChooseOptions): Result.Result<MechanismName, SaslError> => {
  const offered = new Set(options.offered.map((name) => name.toUpperCase()))
  const allowed = options.allowed === undefined ? undefined : new Set(options.allowed.map((n) => n.toUpperCase()))
  const credentials = options.credentials
  const order = credentials._tag === "Password"
    ? (options.secure === false ? plaintextPasswordPreference : passwordPreference)
    : credentials._tag === "External"
    ? ["EXTERNAL" as const]
    : tokenPreference
  const authzid = credentials._tag !== "OAuth2" && credentials._tag !== "Bearer" && credentials.authzid !== undefined &&
    credentials.authzid !== ""
  for (const name of order) {
    const m = mechanisms[name]
    if (!offered.has(name)) continue
    if (allowed !== undefined && !allowed.has(name)) continue
    if (m.channelBinding && !options.channelBinding) continue
    if (authzid && !m.authzid) continue
    if (name === "LOGIN" && options.loginDisabled === true) continue
    return Result.succeed(name)
  }
  return Text.fail(
    "NoUsableMechanism",
    "",
    `no mechanism the server offers fits ${credentials._tag.toLowerCase()} credentials` +
      (allowed === undefined ? "" : " and the allowed list") +
      (authzid ? " with an authorization identity" : "")
  )
}
