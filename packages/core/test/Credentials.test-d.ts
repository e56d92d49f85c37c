import * as Credentials from "@starttls/core/Credentials"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { describe, expectTypeOf, it } from "vitest"

class RefreshError {
  readonly _tag = "RefreshError"
}

describe("Credentials types", () => {
  it("take secrets only as Redacted", () => {
    // @ts-expect-error a plain string password is refused
    Credentials.password({ username: "me", password: "hunter2" })
    // @ts-expect-error a plain string token is refused
    Credentials.oauth2({ username: "me", token: "ya29" })
    // @ts-expect-error an effect of a plain string is refused
    Credentials.oauth2({ username: "me", token: Effect.succeed("ya29") })
    expectTypeOf(Credentials.password({ username: "me", password: Redacted.make("x") })).toEqualTypeOf<
      Credentials.Password
    >()
  })

  it("carry the token's error into resolve", () => {
    const creds = Credentials.oauth2({
      username: "me",
      token: Effect.fail(new RefreshError()) as Effect.Effect<Redacted.Redacted<string>, RefreshError>
    })
    expectTypeOf(creds).toEqualTypeOf<Credentials.OAuth2<RefreshError>>()
    expectTypeOf(Credentials.resolve(creds)).toEqualTypeOf<Effect.Effect<Credentials.Resolved, RefreshError>>()
    const pw = Credentials.password({ username: "me", password: Redacted.make("x") })
    expectTypeOf(Credentials.resolve(pw)).toEqualTypeOf<Effect.Effect<Credentials.Resolved, never>>()
  })
})
