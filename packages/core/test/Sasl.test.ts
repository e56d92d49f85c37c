import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Sasl from "@starttls/core/Sasl"
import type { SaslError } from "@starttls/core/SaslError"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { inspect } from "node:util"
import { base64, bearer, bytes, err, ok, password, stepText, text } from "./SaslFixtures.ts"

describe("PLAIN (RFC 4616)", () => {
  it("encodes the RFC 4616 §4 examples", () => {
    const tim = ok(Sasl.start("PLAIN", { credentials: password("tim", "tanstaaftanstaaf") }))
    assert.strictEqual(text(tim.response), "\0tim\0tanstaaftanstaaf")
    assert.strictEqual(base64(tim.response), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
    const kurt = ok(Sasl.start("PLAIN", { credentials: password("Kurt", "xipj3plmq", "Ursel") }))
    assert.strictEqual(text(kurt.response), "Ursel\0Kurt\0xipj3plmq")
    assert.deepStrictEqual(kurt.state, { _tag: "Complete", mechanism: "PLAIN" })
    ok(Sasl.finish(kurt.state))
  })

  it("encodes any username and password without NUL as UTF-8", () => {
    const field = fc.string({ unit: "grapheme", minLength: 1 }).filter((s) => !s.includes("\0"))
    fc.assert(fc.property(field, field, (username, secret) => {
      const initial = ok(Sasl.start("PLAIN", { credentials: password(username, secret) }))
      assert.deepStrictEqual(Redacted.value(initial.response!), bytes(`\0${username}\0${secret}`))
    }))
  })

  it("rejects NUL in any field without quoting the secret", () => {
    const field = fc.string({ unit: "grapheme", minLength: 1 }).filter((s) => !s.includes("\0"))
    const withNul = fc.tuple(field, field).map(([a, b]) => `${a}\0${b}`)
    fc.assert(fc.property(field, withNul, (clean, dirty) => {
      const user = err(Sasl.start("PLAIN", { credentials: password(dirty, clean) }))
      assert.strictEqual(user.reason, "InvalidUsername")
      const pass = err(Sasl.start("PLAIN", { credentials: password(clean, dirty) }))
      assert.strictEqual(pass.reason, "InvalidSecret")
      assert.isFalse(pass.message.includes(dirty))
      const authzid = err(Sasl.start("PLAIN", { credentials: password(clean, clean, dirty) }))
      assert.strictEqual(authzid.reason, "InvalidUsername")
    }))
  })

  it("rejects empty and ill-formed fields", () => {
    assert.strictEqual(err(Sasl.start("PLAIN", { credentials: password("tim", "") })).reason, "InvalidSecret")
    assert.strictEqual(err(Sasl.start("PLAIN", { credentials: password("", "x") })).reason, "InvalidUsername")
    const lone = err(Sasl.start("PLAIN", { credentials: password("tim", "a\ud800b") }))
    assert.strictEqual(lone.reason, "InvalidSecret")
    assert.strictEqual(lone.detail, "password is not well-formed Unicode")
  })

  it("refuses a token", () => {
    assert.strictEqual(err(Sasl.start("PLAIN", { credentials: bearer("u", "t") })).reason, "UnsupportedCredentials")
  })

  it("holds the initial response for the first challenge without SASL-IR (RFC 4422 §5)", () => {
    const initial = ok(Sasl.start("plain", { credentials: password("tim", "pw"), initialResponse: false }))
    assert.isUndefined(initial.response)
    assert.strictEqual(initial.state._tag, "Deferred")
    assert.strictEqual(err(Sasl.finish(initial.state)).reason, "UnexpectedSuccess")
    const next = stepText(initial.state, "")
    assert.strictEqual(next.text, "\0tim\0pw")
    assert.isTrue(next.done)
    ok(Sasl.finish(next.state))
    assert.strictEqual(err(Sasl.step(next.state, bytes(""))).reason, "UnexpectedChallenge")
  })
})

describe("LOGIN (draft-murchison-sasl-login)", () => {
  it("answers the first prompt with the username and the second with the password", () => {
    const initial = ok(Sasl.start("LOGIN", { credentials: password("tim", "tanstaaf") }))
    assert.isUndefined(initial.response)
    const user = stepText(initial.state, "Username:")
    assert.strictEqual(user.text, "tim")
    assert.isFalse(user.done)
    assert.strictEqual(err(Sasl.finish(user.state)).reason, "UnexpectedSuccess")
    // The prompt text is not interpreted: only the order counts.
    const pass = stepText(user.state, "User Name")
    assert.strictEqual(pass.text, "tanstaaf")
    assert.isTrue(pass.done)
    ok(Sasl.finish(pass.state))
    assert.strictEqual(err(Sasl.step(pass.state, bytes("Password:"))).reason, "UnexpectedChallenge")
  })

  it("is server-first even when the protocol could send an initial response", () => {
    const initial = ok(Sasl.start("LOGIN", { credentials: password("tim", "x"), initialResponse: true }))
    assert.isUndefined(initial.response)
    assert.isFalse(Sasl.mechanisms.LOGIN.clientFirst)
  })

  it("cannot carry an authorization identity", () => {
    const e = err(Sasl.start("LOGIN", { credentials: password("tim", "x", "admin") }))
    assert.strictEqual(e.reason, "UnsupportedCredentials")
  })
})

describe("CRAM-MD5 (RFC 2195)", () => {
  it("answers the RFC 2195 §2 example", () => {
    const initial = ok(Sasl.start("CRAM-MD5", { credentials: password("tim", "tanstaaftanstaaf") }))
    assert.isUndefined(initial.response)
    const next = stepText(initial.state, "<1896.697170952@postoffice.reston.mci.net>")
    assert.strictEqual(next.text, "tim b913a602c7eda7a495b4e6e7334d3890")
    assert.isTrue(next.done)
    ok(Sasl.finish(next.state))
  })

  it("rejects an empty challenge and an early success", () => {
    const initial = ok(Sasl.start("CRAM-MD5", { credentials: password("tim", "x") }))
    assert.strictEqual(err(Sasl.step(initial.state, new Uint8Array(0))).reason, "MalformedChallenge")
    assert.strictEqual(err(Sasl.finish(initial.state)).reason, "UnexpectedSuccess")
  })
})

describe("EXTERNAL (RFC 4422 Appendix A)", () => {
  it("sends the authorization identity or an empty response", () => {
    const none = ok(Sasl.start("EXTERNAL", { credentials: Credentials.external() }))
    assert.deepStrictEqual(Redacted.value(none.response!), new Uint8Array(0))
    const admin = ok(Sasl.start("EXTERNAL", { credentials: Credentials.external({ authzid: "admin" }) }))
    assert.strictEqual(text(admin.response), "admin")
    ok(Sasl.finish(admin.state))
  })

  it("needs external credentials", () => {
    const e = err(Sasl.start("EXTERNAL", { credentials: password("tim", "x") }))
    assert.strictEqual(e.reason, "UnsupportedCredentials")
  })
})

describe("XOAUTH2", () => {
  it("encodes Google's documented example", () => {
    const initial = ok(
      Sasl.start("XOAUTH2", {
        credentials: bearer("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
      })
    )
    assert.strictEqual(
      base64(initial.response),
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )
    ok(Sasl.finish(initial.state))
  })

  it("answers the JSON error challenge with an empty response, then expects the failure", () => {
    const initial = ok(Sasl.start("XOAUTH2", { credentials: bearer("u@example.com", "tok") }))
    const json = `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`
    const next = stepText(initial.state, json)
    assert.strictEqual(next.text, "")
    assert.isTrue(next.done)
    assert.isTrue(next.untrustedServerError?.startsWith(`{"status":"401"`))
    const e = err(Sasl.finish(next.state))
    assert.strictEqual(e.reason, "ServerError")
    assert.isFalse(e.message.includes("401"))
    assert.strictEqual(err(Sasl.step(next.state, bytes("{}"))).reason, "UnexpectedChallenge")
  })

  it("rejects tokens and usernames that would break the framing", () => {
    for (const token of ["has space", "ctl\x01a", "", "t\u00e9"]) {
      const e = err(Sasl.start("XOAUTH2", { credentials: bearer("u", token) }))
      assert.strictEqual(e.reason, "InvalidSecret")
      if (token !== "") assert.isFalse(e.message.includes(token))
    }
    assert.strictEqual(err(Sasl.start("XOAUTH2", { credentials: bearer("u\x01", "t") })).reason, "InvalidUsername")
  })
})

describe("OAUTHBEARER (RFC 7628)", () => {
  it("encodes the RFC 7628 §4.1 example", () => {
    const initial = ok(
      Sasl.start("OAUTHBEARER", {
        credentials: bearer("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
        host: "server.example.com",
        port: 143
      })
    )
    assert.strictEqual(
      base64(initial.response),
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    )
  })

  it("escapes the GS2 authzid and omits host and port when not given", () => {
    const initial = ok(Sasl.start("OAUTHBEARER", { credentials: bearer("a,b=c", "tok") }))
    assert.strictEqual(text(initial.response), "n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01")
  })

  it("answers the error challenge with %x01 (RFC 7628 §3.2.3)", () => {
    const initial = ok(Sasl.start("OAUTHBEARER", { credentials: bearer("u", "tok") }))
    const next = stepText(initial.state, `{"status":"invalid_token"}`)
    assert.strictEqual(next.text, "\x01")
    assert.strictEqual(err(Sasl.finish(next.state)).reason, "ServerError")
  })

  it("validates host and port", () => {
    const credentials = bearer("u", "tok")
    assert.strictEqual(err(Sasl.start("OAUTHBEARER", { credentials, port: 70000 })).reason, "InvalidInput")
    assert.strictEqual(err(Sasl.start("OAUTHBEARER", { credentials, host: "a\x01b" })).reason, "InvalidInput")
  })
})

describe("start / mechanism", () => {
  it("finds mechanisms case-insensitively and refuses unknown ones", () => {
    assert.strictEqual(Sasl.mechanism("scram-sha-256")?.name, "SCRAM-SHA-256")
    assert.isUndefined(Sasl.mechanism("GSSAPI"))
    assert.isUndefined(Sasl.mechanism("toString"))
    assert.strictEqual(err(Sasl.start("NTLM", { credentials: password("u", "p") })).reason, "InvalidInput")
  })

  it("says which mechanisms are client-first", () => {
    const clientFirst = Object.values(Sasl.mechanisms).filter((m) => m.clientFirst).map((m) => m.name).sort()
    assert.deepStrictEqual(clientFirst, [
      "EXTERNAL",
      "OAUTHBEARER",
      "PLAIN",
      "SCRAM-SHA-1",
      "SCRAM-SHA-256",
      "SCRAM-SHA-256-PLUS",
      "XOAUTH2"
    ])
  })
})

describe("choose", () => {
  const pw = password("u", "p")
  const withAuthzid = password("u", "p", "admin")
  const oauth = Credentials.oauth2({ username: "u", token: Effect.succeed(Redacted.make("t")) })
  const all = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
  const table: ReadonlyArray<[string, Partial<Sasl.ChooseOptions>, Sasl.MechanismName | undefined]> = [
    ["SCRAM-PLUS with channel binding", { offered: all, channelBinding: true }, "SCRAM-SHA-256-PLUS"],
    ["SCRAM-SHA-256 without channel binding", { offered: all }, "SCRAM-SHA-256"],
    ["SCRAM-SHA-1 before PLAIN", { offered: ["PLAIN", "SCRAM-SHA-1"] }, "SCRAM-SHA-1"],
    ["PLAIN before LOGIN and CRAM-MD5", { offered: ["CRAM-MD5", "LOGIN", "PLAIN"] }, "PLAIN"],
    ["LOGIN before CRAM-MD5 over TLS", { offered: ["CRAM-MD5", "LOGIN"] }, "LOGIN"],
    ["CRAM-MD5 when alone", { offered: ["CRAM-MD5"] }, "CRAM-MD5"],
    ["CRAM-MD5 first without TLS", { offered: ["PLAIN", "CRAM-MD5"], secure: false }, "CRAM-MD5"],
    ["never LOGIN when disabled", { offered: ["LOGIN"], loginDisabled: true }, undefined],
    ["PLAIN when LOGIN is disabled", { offered: ["LOGIN", "PLAIN"], loginDisabled: true }, "PLAIN"],
    ["case-insensitive names", { offered: ["plain", "Scram-Sha-256"] }, "SCRAM-SHA-256"],
    ["allowed restricts", { offered: all, allowed: ["plain", "LOGIN"] }, "PLAIN"],
    ["allowed does not reorder", { offered: all, allowed: ["PLAIN", "SCRAM-SHA-1"] }, "SCRAM-SHA-1"],
    ["-PLUS only, no binding", { offered: ["SCRAM-SHA-256-PLUS"] }, undefined],
    ["authzid rules out LOGIN, CRAM-MD5", { offered: ["LOGIN", "CRAM-MD5"], credentials: withAuthzid }, undefined],
    ["authzid keeps PLAIN", { offered: ["LOGIN", "PLAIN"], credentials: withAuthzid }, "PLAIN"],
    ["OAUTHBEARER before XOAUTH2", { offered: ["XOAUTH2", "OAUTHBEARER", "PLAIN"], credentials: oauth }, "OAUTHBEARER"],
    ["XOAUTH2", { offered: ["XOAUTH2", "PLAIN"], credentials: bearer("u", "t") }, "XOAUTH2"],
    ["a token never picks PLAIN", { offered: ["PLAIN", "LOGIN"], credentials: oauth }, undefined],
    ["EXTERNAL for external", { offered: ["PLAIN", "EXTERNAL"], credentials: Credentials.external() }, "EXTERNAL"],
    ["EXTERNAL never for passwords", { offered: ["EXTERNAL"] }, undefined],
    ["unknown mechanisms ignored", { offered: ["GSSAPI", "NTLM", "XOAUTH"] }, undefined],
    ["nothing offered", { offered: [] }, undefined]
  ]
  for (const [name, options, expected] of table) {
    it(name, () => {
      const result = Sasl.choose({ offered: [], credentials: pw, channelBinding: false, ...options })
      if (expected === undefined) assert.strictEqual(err(result).reason, "NoUsableMechanism")
      else assert.strictEqual(ok(result), expected)
    })
  }

  it("picks the strongest usable mechanism both sides support", () => {
    const names = [...all, "XOAUTH2", "OAUTHBEARER", "EXTERNAL", "GSSAPI"]
    fc.assert(fc.property(
      fc.subarray(names),
      fc.option(fc.subarray(names), { nil: undefined }),
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      fc.constantFrom(pw, withAuthzid, oauth, Credentials.external()),
      (offered, allowed, channelBinding, loginDisabled, secure, credentials) => {
        const options = { offered, allowed, channelBinding, loginDisabled, secure, credentials }
        const usable = (name: Sasl.MechanismName) => {
          const m = Sasl.mechanisms[name]
          const kind = credentials._tag === "OAuth2" ? "Bearer" : credentials._tag
          return offered.includes(name) && (allowed === undefined || allowed.includes(name)) &&
            m.credentials === kind && (!m.channelBinding || channelBinding) &&
            !(loginDisabled && name === "LOGIN") && (credentials !== withAuthzid || m.authzid)
        }
        const order = credentials._tag === "External"
          ? ["EXTERNAL" as const]
          : credentials._tag === "OAuth2"
          ? Sasl.tokenPreference
          : secure
          ? Sasl.passwordPreference
          : Sasl.plaintextPasswordPreference
        const best = order.find(usable)
        const result = Sasl.choose(options)
        if (best === undefined) assert.strictEqual(err(result).reason, "NoUsableMechanism")
        else assert.strictEqual(ok(result), best)
      }
    ))
  })
})

describe("secrets", () => {
  const SECRET = "Sup3rSecr3t-Passw0rd"
  const TOKEN = "ya29.T0kenThatMustNotLeak"
  const leaks = (value: unknown): boolean => {
    const views = [String(value), JSON.stringify(value) ?? "", inspect(value, { depth: 10 })]
    if (value instanceof Error) views.push(value.message)
    return views.some((view) => view.includes(SECRET) || view.includes(TOKEN))
  }
  const inputs: ReadonlyArray<[string, Sasl.Input]> = [
    ...["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"].map((
      name
    ): [string, Sasl.Input] => [name, {
      credentials: password("user", SECRET),
      nonce: "fyko+d2lbbFgONRv9qkxdawL",
      channelBinding: new Uint8Array(32)
    }]),
    ["XOAUTH2", { credentials: bearer("user", TOKEN) }],
    ["OAUTHBEARER", { credentials: bearer("user", TOKEN) }]
  ]

  it("never appear in states, errors or printed responses, whatever the server sends", () => {
    const challenge = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(
        "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=4096",
        "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
        "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=1",
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        "e=invalid-proof",
        "m=ext,r=x"
      ).map(bytes)
    )
    fc.assert(
      fc.property(fc.constantFrom(...inputs), fc.array(challenge, { maxLength: 4 }), fc.boolean(), ([name, input], challenges, ir) => {
        const started = Sasl.start(name, { ...input, initialResponse: ir })
        assert.isFalse(leaks(started), name)
        if (started._tag === "Failure") return
        let state = started.success.state
        for (const c of challenges) {
          const next = Sasl.step(state, c)
          assert.isFalse(leaks(next), name)
          if (next._tag === "Failure") return
          state = next.success.state
        }
        const outcome = Sasl.finish(state, challenges[0])
        assert.isFalse(leaks(outcome), name)
      }),
      { numRuns: 60 }
    )
  })

  it("never appear in errors about invalid secrets", () => {
    const errors: Array<SaslError> = [
      err(Sasl.start("PLAIN", { credentials: password("u", `${SECRET}\0`) })),
      err(Sasl.start("SCRAM-SHA-256", { credentials: password("u", `${SECRET}\u0007`) })),
      err(Sasl.start("XOAUTH2", { credentials: bearer("u", `${TOKEN} x`) }))
    ]
    for (const e of errors) {
      assert.strictEqual(e.reason, "InvalidSecret")
      assert.isFalse(leaks(e))
      assert.isFalse(leaks(e.detail))
    }
  })
})
