// Helpers shared by the SASL tests: unwrap results, read responses as text, drive exchanges.
import { assert } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Sasl from "@starttls/core/Sasl"
import type { SaslError } from "@starttls/core/SaslError"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"

export const ok = <A>(result: Result.Result<A, SaslError>): A => {
  if (Result.isFailure(result)) assert.fail(`unexpected SaslError: ${result.failure.message}`)
  return result.success
}

export const err = <A>(result: Result.Result<A, SaslError>): SaslError => {
  if (Result.isSuccess(result)) assert.fail("expected a SaslError")
  return result.failure
}

const decoder = new TextDecoder()
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
export const text = (response: Redacted.Redacted<Uint8Array> | undefined): string | undefined =>
  response === undefined ? undefined : decoder.decode(Redacted.value(response))
export const base64 = (response: Redacted.Redacted<Uint8Array> | undefined): string | undefined =>
  response === undefined ? undefined : Buffer.from(Redacted.value(response)).toString("base64")

export const password = (username: string, secret: string, authzid?: string): Credentials.Password =>
  Credentials.password({ username, password: Redacted.make(secret), authzid })

export const bearer = (username: string, token: string): Credentials.Bearer =>
  Credentials.bearer({ username, token: Redacted.make(token) })

/** The `step` result's response as text (fails the test on a SaslError). */
export const stepText = (state: Sasl.State, challenge: string) => {
  const next = ok(Sasl.step(state, bytes(challenge)))
  return { ...next, text: text(next.response) }
}
