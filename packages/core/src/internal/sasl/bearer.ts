/**
 * OAuth 2.0 bearer tokens: OAUTHBEARER (RFC 7628) and Google's XOAUTH2.
 *
 * Both are client-first and send the token at once. On a rejected token the server does not fail
 * right away: it sends a challenge with a JSON error (RFC 7628 §3.2.2), which the client must
 * acknowledge (XOAUTH2: an empty response; OAUTHBEARER: a single `%x01`, RFC 7628 §3.2.3); the
 * server then fails the exchange.
 *
 * @internal
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as CodecError from "../../CodecError.ts"
import type * as Sasl from "../../Sasl.ts"
import type { SaslError } from "../../SaslError.ts"
import { credentialsOf } from "./simple.ts"
import * as Text from "./text.ts"

// RFC 7628 §3.1 kvsep.
const KVSEP = "\x01"

// RFC 6750 §2.1 b64token is a subset of VCHAR; anything else (space, ^A, controls, non-ASCII)
// would break the framing.
const NOT_VCHAR = /[^\x21-\x7e]/

// RFC 5801 §4 saslname: "=" and "," escaped in the GS2 header's authzid.
const saslName = (name: string): string => name.replace(/=/g, "=3D").replace(/,/g, "=2C")

/** @internal */
export const start = (
  mechanism: "XOAUTH2" | "OAUTHBEARER",
  input: Sasl.Input
): Result.Result<Text.Opening, SaslError> =>
  Result.gen(function*() {
    const credentials = yield* credentialsOf(mechanism, input, "Bearer")
    const username = yield* Text.checkField(mechanism, "InvalidUsername", "username", credentials.username, {
      forbidden: Text.CONTROL,
      forbiddenName: "a control character"
    })
    const token = yield* Text.checkField(mechanism, "InvalidSecret", "token", Redacted.value(credentials.token), {
      forbidden: NOT_VCHAR,
      forbiddenName: "a character outside printable ASCII"
    })
    const auth = `auth=Bearer ${token}${KVSEP}${KVSEP}`
    if (mechanism === "XOAUTH2") {
      // "user=" {User} "^Aauth=Bearer " {Access Token} "^A^A"
      return { initial: Text.utf8(`user=${username}${KVSEP}${auth}`), state: sent(mechanism) }
    }
    let pairs = ""
    if (input.host !== undefined) {
      const host = yield* Text.checkField(mechanism, "InvalidInput", "host", input.host, {
        forbidden: NOT_VCHAR,
        forbiddenName: "a character outside printable ASCII"
      })
      pairs += `host=${host}${KVSEP}`
    }
    if (input.port !== undefined) {
      if (!Number.isInteger(input.port) || input.port < 0 || input.port > 65535) {
        return yield* Text.fail("InvalidInput", mechanism, "port is not a TCP port number")
      }
      pairs += `port=${input.port}${KVSEP}`
    }
    // RFC 7628 §3.1: gs2-header kvsep *kvpair kvsep; no channel binding ("n").
    return { initial: Text.utf8(`n,a=${saslName(username)},${KVSEP}${pairs}${auth}`), state: sent(mechanism) }
  })

const sent = (mechanism: "XOAUTH2" | "OAUTHBEARER"): Sasl.BearerSent => ({ _tag: "BearerSent", mechanism })

/** @internal The server's error challenge: acknowledge it and expect the failure. */
export const onError = (state: Sasl.BearerSent, challenge: Uint8Array): Sasl.Step => {
  const untrustedServerText = CodecError.preview(challenge)
  return {
    state: { _tag: "BearerRejected", mechanism: state.mechanism, untrustedServerText },
    response: state.mechanism === "XOAUTH2" ? Text.empty() : Text.secret(Text.utf8(KVSEP)),
    done: true,
    untrustedServerError: untrustedServerText
  }
}
