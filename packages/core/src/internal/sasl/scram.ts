/**
 * SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677), and `-PLUS` with `tls-exporter` channel
 * binding (RFC 5802 §6, RFC 9266).
 *
 * ```
 * C: gs2-header client-first-message-bare        n,,n=user,r=<client nonce>
 * S: server-first-message                        r=<client nonce><server nonce>,s=<salt>,i=<count>
 * C: client-final-message                        c=<base64(gs2-header [cb-data])>,r=<nonce>,p=<proof>
 * S: server-final-message                        v=<server signature> | e=<error>
 * ```
 *
 * @internal
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Sasl from "../../Sasl.ts"
import type { SaslError } from "../../SaslError.ts"
import { saslPrep } from "./saslprep.ts"
import { credentialsOf } from "./simple.ts"
import * as Text from "./text.ts"

const DEFAULT_MIN_ITERATIONS = 4096
const DEFAULT_MAX_ITERATIONS = 1_000_000

const hashOf = (mechanism: Sasl.ScramName): { readonly name: "sha1" | "sha256"; readonly length: number } =>
  mechanism === "SCRAM-SHA-1" ? { name: "sha1", length: 20 } : { name: "sha256", length: 32 }

// RFC 5802 §7: printable = %x21-2B / %x2D-7E (no ",").
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/

/** @internal 24 random bytes, base64 (printable, never ","). */
export const makeNonce = (): string => randomBytes(24).toString("base64")

// RFC 5802 §5.1 "n" and "a": SASLprep, then "=" and "," escaped as "=3D" and "=2C".
const prepareName = (mechanism: Sasl.ScramName, field: string, name: string): Result.Result<string, SaslError> => {
  const prepared = saslPrep(name)
  if (prepared === undefined) {
    return Text.fail("InvalidUsername", mechanism, `${field} contains a character SASLprep prohibits (RFC 4013 §2.3)`)
  }
  if (prepared === "") return Text.fail("InvalidUsername", mechanism, `${field} is empty`)
  return Result.succeed(prepared.replace(/=/g, "=3D").replace(/,/g, "=2C"))
}

/** @internal The client-first message. */
export const start = (mechanism: Sasl.ScramName, input: Sasl.Input): Result.Result<Text.Opening, SaslError> =>
  Result.gen(function*() {
    const credentials = yield* credentialsOf(mechanism, input, "Password")
    const username = yield* prepareName(mechanism, "username", credentials.username)
    const authzid = credentials.authzid === undefined || credentials.authzid === ""
      ? ""
      : `a=${yield* prepareName(mechanism, "authzid", credentials.authzid)}`
    const password = saslPrep(Redacted.value(credentials.password))
    if (password === undefined) {
      return yield* Text.fail("InvalidSecret", mechanism, "password contains a character SASLprep prohibits (RFC 4013 §2.3)")
    }
    if (password === "") return yield* Text.fail("InvalidSecret", mechanism, "password is empty")
    const nonce = input.nonce ?? makeNonce()
    if (!PRINTABLE.test(nonce)) {
      return yield* Text.fail("InvalidInput", mechanism, "nonce must be printable ASCII without ','")
    }
    // RFC 5802 §6 gs2-cbind-flag: "p" binds the channel; "y" says "I could bind, but you don't seem
    // to offer -PLUS" (so a server that does support it detects that -PLUS was stripped); "n" no binding.
    let flag: string
    let cbData: Uint8Array = new Uint8Array(0)
    if (mechanism === "SCRAM-SHA-256-PLUS") {
      if (input.channelBinding === undefined || input.channelBinding.length === 0) {
        return yield* Text.fail(
          "ChannelBindingUnavailable",
          mechanism,
          "no tls-exporter channel binding data (TLS 1.3 required)"
        )
      }
      flag = "p=tls-exporter"
      cbData = input.channelBinding
    } else {
      const plus = `${mechanism}-PLUS`
      const plusOffered = input.offered?.some((name) => name.toUpperCase() === plus) ?? false
      flag = input.channelBinding !== undefined && input.offered !== undefined && !plusOffered ? "y" : "n"
    }
    const gs2Header = `${flag},${authzid},`
    const clientFirstBare = `n=${username},r=${nonce}`
    const state: Sasl.ScramFirst = {
      _tag: "ScramFirst",
      mechanism,
      clientNonce: nonce,
      clientFirstBare,
      channelBinding: Text.toBase64(Text.concat(Text.utf8(gs2Header), cbData)),
      password: Redacted.make(password),
      minIterations: input.minIterations ?? DEFAULT_MIN_ITERATIONS,
      maxIterations: input.maxIterations ?? DEFAULT_MAX_ITERATIONS
    }
    return { initial: Text.utf8(gs2Header + clientFirstBare), state }
  })

// RFC 5802 §7 server-error-value (a fixed vocabulary, so it may be named in our own detail).
const SERVER_ERRORS = new Set([
  "invalid-encoding",
  "extensions-not-supported",
  "invalid-proof",
  "channel-bindings-dont-match",
  "server-does-support-channel-binding",
  "channel-binding-not-supported",
  "unsupported-channel-binding-type",
  "unknown-user",
  "invalid-username-encoding",
  "no-resources",
  "other-error"
])

const serverError = (mechanism: Sasl.ScramName, value: string): Result.Result<never, SaslError> =>
  Text.fail(
    "ServerError",
    mechanism,
    SERVER_ERRORS.has(value) ? `the server reported ${value}` : "the server reported an error",
    value
  )

// A message as attributes `x=value` (RFC 5802 §5.1), or a failure.
const attributes = (
  mechanism: Sasl.ScramName,
  message: Uint8Array,
  what: string
): Result.Result<{ readonly text: string; readonly attrs: ReadonlyArray<string> }, SaslError> => {
  const text = Text.fromUtf8(message)
  if (text === undefined) return Text.fail("MalformedChallenge", mechanism, `${what} is not UTF-8`, message)
  const attrs = text.split(",")
  for (const attr of attrs) {
    if (!/^[A-Za-z]=/.test(attr)) {
      return Text.fail("MalformedChallenge", mechanism, `${what} is not a list of attributes`, message)
    }
  }
  return Result.succeed({ text, attrs })
}

const value = (attr: string | undefined, name: string): string | undefined =>
  attr !== undefined && attr.startsWith(`${name}=`) ? attr.slice(2) : undefined

const hmac = (hash: string, key: Uint8Array, data: Uint8Array | string): Buffer =>
  createHmac(hash, key).update(data).digest()

/** @internal Reads server-first, answers with client-final (proof). */
export const clientFinal = (state: Sasl.ScramFirst, challenge: Uint8Array): Result.Result<Sasl.Step, SaslError> =>
  Result.gen(function*() {
    const mechanism = state.mechanism
    const malformed = (detail: string) => Text.fail("MalformedChallenge", mechanism, detail, challenge)
    const { attrs, text } = yield* attributes(mechanism, challenge, "server-first-message")
    const error = value(attrs[0], "e")
    if (error !== undefined) return yield* serverError(mechanism, error)
    // RFC 5802 §5.1 "m": a mandatory extension the client does not know: authentication fails.
    if (value(attrs[0], "m") !== undefined) return yield* malformed("the server requires an unsupported extension (m=)")
    const nonce = value(attrs[0], "r")
    const salt = Text.fromBase64(value(attrs[1], "s") ?? "")
    const count = value(attrs[2], "i")
    if (nonce === undefined || !PRINTABLE.test(nonce)) return yield* malformed("missing or invalid nonce (r=)")
    if (salt === undefined || salt.length === 0) return yield* malformed("missing or invalid salt (s=)")
    if (count === undefined || !/^[1-9][0-9]{0,9}$/.test(count)) {
      return yield* malformed("missing or invalid iteration count (i=)")
    }
    // The server nonce must extend ours, else this answers another exchange (replay).
    if (!nonce.startsWith(state.clientNonce) || nonce.length === state.clientNonce.length) {
      return yield* Text.fail("NonceMismatch", mechanism, "the server nonce does not extend the client nonce")
    }
    const iterations = Number(count)
    if (iterations < state.minIterations) {
      return yield* Text.fail(
        "IterationCountTooLow",
        mechanism,
        `iteration count ${iterations} is below the minimum ${state.minIterations}`
      )
    }
    if (iterations > state.maxIterations) {
      return yield* Text.fail(
        "IterationCountTooHigh",
        mechanism,
        `iteration count ${iterations} is above the maximum ${state.maxIterations}`
      )
    }
    const hash = hashOf(mechanism)
    // RFC 5802 §3.
    const saltedPassword = pbkdf2Sync(
      Text.utf8(Redacted.value(state.password)),
      salt,
      iterations,
      hash.length,
      hash.name
    )
    const clientKey = hmac(hash.name, saltedPassword, "Client Key")
    const storedKey = createHash(hash.name).update(clientKey).digest()
    const serverKey = hmac(hash.name, saltedPassword, "Server Key")
    const withoutProof = `c=${state.channelBinding},r=${nonce}`
    const authMessage = `${state.clientFirstBare},${text},${withoutProof}`
    const proof = hmac(hash.name, storedKey, authMessage)
    for (let i = 0; i < proof.length; i++) proof[i] = proof[i]! ^ clientKey[i]!
    const serverSignature = new Uint8Array(hmac(hash.name, serverKey, authMessage))
    const response = Text.utf8(`${withoutProof},p=${Text.toBase64(proof)}`)
    saltedPassword.fill(0)
    clientKey.fill(0)
    serverKey.fill(0)
    proof.fill(0)
    const next: Sasl.ScramFinal = { _tag: "ScramFinal", mechanism, serverSignature: Redacted.make(serverSignature) }
    return { state: next, response: Text.secret(response), done: false }
  })

/** @internal Checks server-final: `v=` must be the expected server signature. */
export const verify = (state: Sasl.ScramFinal, message: Uint8Array): Result.Result<void, SaslError> =>
  Result.gen(function*() {
    const mechanism = state.mechanism
    const { attrs } = yield* attributes(mechanism, message, "server-final-message")
    const error = value(attrs[0], "e")
    if (error !== undefined) return yield* serverError(mechanism, error)
    const encoded = value(attrs[0], "v")
    const signature = encoded === undefined ? undefined : Text.fromBase64(encoded)
    if (signature === undefined) {
      return yield* Text.fail("MalformedChallenge", mechanism, "server-final-message has no valid v=", message)
    }
    const expected = Redacted.value(state.serverSignature)
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      return yield* Text.fail(
        "ServerSignatureMismatch",
        mechanism,
        "the server signature is wrong: the server did not prove it knows the password"
      )
    }
  })
