/**
 * PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login-00), CRAM-MD5 (RFC 2195), EXTERNAL
 * (RFC 4422 Appendix A).
 *
 * @internal
 */
import { createHmac } from "node:crypto"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Credentials from "../../Credentials.ts"
import type * as Sasl from "../../Sasl.ts"
import type { SaslError } from "../../SaslError.ts"
import * as Text from "./text.ts"

/** @internal The credentials a mechanism takes, or `UnsupportedCredentials`. */
export const credentialsOf = <T extends Credentials.Resolved["_tag"]>(
  mechanism: Sasl.MechanismName,
  input: Sasl.Input,
  tag: T
): Result.Result<Extract<Credentials.Resolved, { readonly _tag: T }>, SaslError> =>
  input.credentials._tag === tag
    ? Result.succeed(input.credentials as Extract<Credentials.Resolved, { readonly _tag: T }>)
    : Text.fail("UnsupportedCredentials", mechanism, `needs ${tag.toLowerCase()} credentials`)

const noNul = { forbidden: Text.NUL, forbiddenName: "NUL" } as const

// An optional authorization identity without NUL; "" when absent.
const optionalAuthzid = (mechanism: Sasl.MechanismName, authzid: string | undefined): Result.Result<string, SaslError> =>
  authzid === undefined
    ? Result.succeed("")
    : Text.checkField(mechanism, "InvalidUsername", "authzid", authzid, { ...noNul, allowEmpty: true })

const complete = (mechanism: Sasl.MechanismName): Sasl.Complete => ({ _tag: "Complete", mechanism })

const noAuthzid = (mechanism: Sasl.MechanismName, credentials: Credentials.Password): Result.Result<void, SaslError> =>
  credentials.authzid === undefined || credentials.authzid === ""
    ? Result.void
    : Text.fail("UnsupportedCredentials", mechanism, "cannot carry an authorization identity (authzid)")

// Username and password as UTF-8 text without NUL; the password is checked without being quoted.
const userAndPassword = (mechanism: Sasl.MechanismName, credentials: Credentials.Password) =>
  Result.gen(function*() {
    const username = yield* Text.checkField(mechanism, "InvalidUsername", "username", credentials.username, noNul)
    yield* Text.checkField(mechanism, "InvalidSecret", "password", Redacted.value(credentials.password), noNul)
    return username
  })

/**
 * @internal
 * RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, authcid and passwd non-empty.
 */
export const plainStart = (input: Sasl.Input): Result.Result<Text.Opening, SaslError> =>
  Result.gen(function*() {
    const credentials = yield* credentialsOf("PLAIN", input, "Password")
    const authzid = yield* optionalAuthzid("PLAIN", credentials.authzid)
    const username = yield* userAndPassword("PLAIN", credentials)
    const initial = Text.utf8(`${authzid}\0${username}\0${Redacted.value(credentials.password)}`)
    return { initial, state: complete("PLAIN") }
  })

/**
 * @internal
 * LOGIN is server-first: the first challenge ("Username:") is answered with the username, the
 * second ("Password:") with the password. The prompt text is not interpreted (servers word it
 * differently), only the order counts.
 */
export const loginStart = (input: Sasl.Input): Result.Result<Text.Opening, SaslError> =>
  Result.gen(function*() {
    const credentials = yield* credentialsOf("LOGIN", input, "Password")
    yield* noAuthzid("LOGIN", credentials)
    const username = yield* userAndPassword("LOGIN", credentials)
    const state: Sasl.LoginUsername = {
      _tag: "LoginUsername",
      mechanism: "LOGIN",
      username,
      password: credentials.password
    }
    return { initial: undefined, state }
  })

/** @internal */
export const loginStep = (state: Sasl.LoginUsername | Sasl.LoginPassword): Result.Result<Sasl.Step, SaslError> =>
  Result.succeed(
    state._tag === "LoginUsername"
      ? {
        state: { _tag: "LoginPassword", mechanism: "LOGIN", password: state.password },
        response: Text.secret(Text.utf8(state.username)),
        done: false
      }
      : {
        state: complete("LOGIN"),
        response: Text.secret(Text.utf8(Redacted.value(state.password))),
        done: true
      }
  )

/** @internal RFC 2195 §2: server-first; the client answers `username SP hex(HMAC-MD5(password, challenge))`. */
export const cramMd5Start = (input: Sasl.Input): Result.Result<Text.Opening, SaslError> =>
  Result.gen(function*() {
    const credentials = yield* credentialsOf("CRAM-MD5", input, "Password")
    yield* noAuthzid("CRAM-MD5", credentials)
    const username = yield* userAndPassword("CRAM-MD5", credentials)
    const state: Sasl.CramMd5 = { _tag: "CramMd5", mechanism: "CRAM-MD5", username, password: credentials.password }
    return { initial: undefined, state }
  })

/** @internal */
export const cramMd5Step = (state: Sasl.CramMd5, challenge: Uint8Array): Result.Result<Sasl.Step, SaslError> => {
  // RFC 2195 §2: the challenge is a msg-id ("<...>"), a fresh server nonce; an empty one is useless.
  if (challenge.length === 0) return Text.fail("MalformedChallenge", "CRAM-MD5", "empty challenge")
  const digest = createHmac("md5", Text.utf8(Redacted.value(state.password))).update(challenge).digest("hex")
  return Result.succeed({
    state: complete("CRAM-MD5"),
    response: Text.secret(Text.utf8(`${state.username} ${digest}`)),
    done: true
  })
}

/** @internal RFC 4422 Appendix A: the initial response is the authorization identity, or empty. */
export const externalStart = (input: Sasl.Input): Result.Result<Text.Opening, SaslError> =>
  Result.gen(function*() {
    const credentials = yield* credentialsOf("EXTERNAL", input, "External")
    const authzid = yield* optionalAuthzid("EXTERNAL", credentials.authzid)
    return { initial: Text.utf8(authzid), state: complete("EXTERNAL") }
  })
