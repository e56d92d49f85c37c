import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { inspect } from "node:util"

const SECRET = "correct-horse-battery-staple"

const printed = (value: unknown): ReadonlyArray<string> => [
  String(value),
  `${value}`,
  JSON.stringify(value),
  JSON.stringify({ nested: [value] }),
  inspect(value, { depth: Infinity, showHidden: true }),
  inspect({ nested: value }, { depth: Infinity })
]

describe("Credentials", () => {
  const password = Credentials.password({ username: "me", password: Redacted.make(SECRET), authzid: "admin" })
  const oauth = Credentials.oauth2({ username: "me", token: Effect.succeed(Redacted.make(SECRET)) })
  const direct = Credentials.oauth2({ username: "me", token: Redacted.make(SECRET) })
  const bearer = Credentials.bearer({ username: "me", token: Redacted.make(SECRET) })

  it("never print a secret", () => {
    for (const value of [password, oauth, direct, bearer, Credentials.external({ authzid: "x" })]) {
      for (const view of printed(value)) assert.isFalse(view.includes(SECRET), view)
    }
  })

  it("print the tag and the non-secret fields", () => {
    assert.strictEqual(
      String(password),
      `Credentials.Password({"_tag":"Password","username":"me","authzid":"admin","password":"<redacted>"})`
    )
    assert.deepStrictEqual(JSON.parse(JSON.stringify(oauth)), { _tag: "OAuth2", username: "me", token: "<effect>" })
    assert.strictEqual(inspect(Credentials.external()), "{ _tag: 'External' }")
    assert.include(inspect(bearer), "<redacted>")
  })

  it("keep their fields readable by code", () => {
    assert.strictEqual(password._tag, "Password")
    assert.strictEqual(password.username, "me")
    assert.strictEqual(password.authzid, "admin")
    assert.strictEqual(Redacted.value(password.password), SECRET)
    const plain = Credentials.password({ username: "me", password: Redacted.make("x") })
    assert.isFalse("authzid" in plain)
    assert.isUndefined(Credentials.external().authzid)
  })

  it.effect("resolve fetches the token at authentication time", () =>
    Effect.gen(function*() {
      let fetched = 0
      const refreshing = Credentials.oauth2({
        username: "me",
        token: Effect.sync(() => {
          fetched++
          return Redacted.make(`token-${fetched}`)
        })
      })
      assert.strictEqual(fetched, 0)
      const first = yield* Credentials.resolve(refreshing)
      const second = yield* Credentials.resolve(refreshing)
      assert.strictEqual(first._tag, "Bearer")
      if (first._tag === "Bearer" && second._tag === "Bearer") {
        assert.strictEqual(Redacted.value(first.token), "token-1")
        assert.strictEqual(Redacted.value(second.token), "token-2")
        assert.strictEqual(first.username, "me")
      }
      assert.strictEqual(yield* Credentials.resolve(password), password)
      const fromDirect = yield* Credentials.resolve(direct)
      assert.strictEqual(fromDirect._tag === "Bearer" && Redacted.value(fromDirect.token), SECRET)
    }))

  it.effect("resolve fails with the token's error", () =>
    Effect.gen(function*() {
      const failing = Credentials.oauth2({ username: "me", token: Effect.fail("refresh failed" as const) })
      const exit = yield* Effect.exit(Credentials.resolve(failing))
      assert.deepStrictEqual(exit, Exit.fail("refresh failed"))
    }))
})
