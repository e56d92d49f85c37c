import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import * as Pop3Command from "../src/Pop3Command.ts"
import type * as Pop3Response from "../src/Pop3Response.ts"

const secret = (value: string) => Redacted.make(value)
const raw = (value: string) => Redacted.make(new TextEncoder().encode(value))

const wire = (command: Pop3Command.Pop3Command, options?: Pop3Command.EncodeOptions) => {
  const result = Pop3Command.encodeWithRedaction(command, options)
  if (Result.isFailure(result)) return { error: `${result.failure.field}: ${result.failure.detail}` }
  return { bytes: Buffer.from(result.success.bytes).toString("utf8"), redacted: result.success.redacted }
}

const failure = (command: Pop3Command.Pop3Command, options?: Pop3Command.EncodeOptions): string | undefined => {
  const result = Pop3Command.encode(command, options)
  return Result.isFailure(result) ? result.failure.field : undefined
}

describe("Pop3Command.encodeWithRedaction", () => {
  const table: ReadonlyArray<readonly [Pop3Command.Pop3Command, string, string]> = [
    [Pop3Command.capa, "CAPA\r\n", "CAPA"],
    [Pop3Command.stls, "STLS\r\n", "STLS"],
    [Pop3Command.user("alice@example.org"), "USER alice@example.org\r\n", "USER alice@example.org"],
    [Pop3Command.pass(secret("tanstaaf")), "PASS tanstaaf\r\n", "PASS ***"],
    [Pop3Command.pass(secret("with two  spaces ")), "PASS with two  spaces \r\n", "PASS ***"],
    [
      Pop3Command.apop("mrose", secret("c4c9334bac560ecc979e58001b3e22fb")),
      "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
      "APOP mrose ***"
    ],
    [Pop3Command.auth("PLAIN"), "AUTH PLAIN\r\n", "AUTH PLAIN"],
    [Pop3Command.auth("scram-sha-256"), "AUTH SCRAM-SHA-256\r\n", "AUTH SCRAM-SHA-256"],
    [Pop3Command.auth("PLAIN", raw("\0u\0p")), "AUTH PLAIN AHUAcA==\r\n", "AUTH PLAIN ***"],
    [Pop3Command.auth("EXTERNAL", raw("")), "AUTH EXTERNAL =\r\n", "AUTH EXTERNAL ***"],
    [Pop3Command.authContinue(raw("secret")), "c2VjcmV0\r\n", "***"],
    [Pop3Command.authContinue(raw("")), "\r\n", "***"],
    [Pop3Command.authCancel, "*\r\n", "*"],
    [Pop3Command.stat, "STAT\r\n", "STAT"],
    [Pop3Command.list(), "LIST\r\n", "LIST"],
    [Pop3Command.list(2), "LIST 2\r\n", "LIST 2"],
    [Pop3Command.uidl(), "UIDL\r\n", "UIDL"],
    [Pop3Command.uidl(7), "UIDL 7\r\n", "UIDL 7"],
    [Pop3Command.retr(1), "RETR 1\r\n", "RETR 1"],
    [Pop3Command.top(10, 0), "TOP 10 0\r\n", "TOP 10 0"],
    [Pop3Command.dele(3), "DELE 3\r\n", "DELE 3"],
    [Pop3Command.rset, "RSET\r\n", "RSET"],
    [Pop3Command.noop, "NOOP\r\n", "NOOP"],
    [Pop3Command.quit, "QUIT\r\n", "QUIT"],
    [Pop3Command.utf8, "UTF8\r\n", "UTF8"],
    [Pop3Command.lang(), "LANG\r\n", "LANG"],
    [Pop3Command.lang("*"), "LANG *\r\n", "LANG *"],
    [Pop3Command.lang("de-CH"), "LANG de-CH\r\n", "LANG de-CH"]
  ]
  for (const [command, bytes, redacted] of table) {
    it(`encodes ${redacted}`, () => {
      assert.deepStrictEqual(wire(command), { bytes, redacted })
    })
  }

  it("allows UTF-8 names and passwords only with the utf8 option", () => {
    assert.strictEqual(failure(Pop3Command.user("jörg")), "name")
    assert.strictEqual(failure(Pop3Command.pass(secret("pässword"))), "secret")
    assert.deepStrictEqual(wire(Pop3Command.user("jörg"), { utf8: true }), { bytes: "USER jörg\r\n", redacted: "USER jörg" })
    assert.deepStrictEqual(wire(Pop3Command.pass(secret("pä ss")), { utf8: true }), {
      bytes: "PASS pä ss\r\n",
      redacted: "PASS ***"
    })
  })

  it("never puts a secret in the redacted line or in an error", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4, maxLength: 60 }), (value) => {
        const marker = `S3CR3T${value}`
        for (
          const command of [
            Pop3Command.pass(secret(marker)),
            Pop3Command.auth("PLAIN", raw(marker)),
            Pop3Command.authContinue(raw(marker))
          ]
        ) {
          const result = Pop3Command.encodeWithRedaction(command, { utf8: true })
          const text = Result.isSuccess(result)
            ? result.success.redacted
            : `${result.failure.message} ${JSON.stringify(result.failure)}`
          assert.notInclude(text, "S3CR3T")
          assert.notInclude(text, Buffer.from(marker).toString("base64").slice(0, 8))
        }
      })
    )
  })
})

describe("Pop3Command validation", () => {
  const table: ReadonlyArray<readonly [string, Pop3Command.Pop3Command, string]> = [
    ["CR in USER", Pop3Command.user("a\rb"), "name"],
    ["LF in USER", Pop3Command.user("a\nQUIT"), "name"],
    ["NUL in USER", Pop3Command.user("a\0"), "name"],
    ["space in USER", Pop3Command.user("a b"), "name"],
    ["empty USER", Pop3Command.user(""), "name"],
    ["DEL in USER", Pop3Command.user("a\x7f"), "name"],
    ["C1 control in USER", Pop3Command.user("a\u0085b"), "name"],
    ["CRLF in PASS", Pop3Command.pass(secret("pw\r\nDELE 1")), "secret"],
    ["tab in PASS", Pop3Command.pass(secret("p\tw")), "secret"],
    ["empty PASS", Pop3Command.pass(secret("")), "secret"],
    ["space in APOP name", Pop3Command.apop("a b", secret("c4c9334bac560ecc979e58001b3e22fb")), "name"],
    ["upper-case APOP digest", Pop3Command.apop("a", secret("C4C9334BAC560ECC979E58001B3E22FB")), "digest"],
    ["short APOP digest", Pop3Command.apop("a", secret("c4c9")), "digest"],
    ["bad mechanism", Pop3Command.auth("PLAIN X"), "mechanism"],
    ["empty mechanism", Pop3Command.auth(""), "mechanism"],
    ["long mechanism", Pop3Command.auth("A".repeat(21)), "mechanism"],
    ["message 0", Pop3Command.retr(0), "msg"],
    ["negative message", Pop3Command.dele(-1), "msg"],
    ["fractional message", Pop3Command.list(1.5), "msg"],
    ["NaN message", Pop3Command.uidl(Number.NaN), "msg"],
    ["unsafe integer", Pop3Command.retr(2 ** 53), "msg"],
    ["negative TOP lines", Pop3Command.top(1, -1), "lines"],
    ["TOP message 0", Pop3Command.top(0, 1), "msg"],
    ["bad language tag", Pop3Command.lang("en US"), "tag"],
    ["unpaired surrogate", Pop3Command.user("a\ud800"), "name"]
  ]
  for (const [name, command, field] of table) {
    it(`rejects ${name}`, () => assert.strictEqual(failure(command, { utf8: true }), field))
  }

  it("limits command lines to 255 octets with CRLF (RFC 2449 §4)", () => {
    // "USER " + name + CRLF: a 248-character name makes 255 octets.
    assert.strictEqual(failure(Pop3Command.user("u".repeat(248))), undefined)
    assert.strictEqual(failure(Pop3Command.user("u".repeat(249))), "command")
    assert.strictEqual(failure(Pop3Command.pass(secret("p".repeat(248)))), undefined)
    assert.strictEqual(failure(Pop3Command.pass(secret("p".repeat(249)))), "secret")
    // Multi-byte characters count as octets.
    assert.strictEqual(failure(Pop3Command.user("é".repeat(125)), { utf8: true }), "command")
    // SASL responses are not command lines.
    assert.strictEqual(failure(Pop3Command.authContinue(raw("x".repeat(5000)))), undefined)
  })

  it("refuses an initial response that would make AUTH longer than 255 octets (RFC 5034 §4)", () => {
    // "AUTH PLAIN " (11) + base64 + CRLF (2): 180 raw bytes -> 240 base64 -> 253 octets.
    assert.isTrue(Pop3Command.initialResponseFits("PLAIN", 180))
    assert.strictEqual(failure(Pop3Command.auth("PLAIN", raw("x".repeat(180)))), undefined)
    assert.isFalse(Pop3Command.initialResponseFits("PLAIN", 183))
    assert.strictEqual(failure(Pop3Command.auth("PLAIN", raw("x".repeat(183)))), "initialResponse")
    assert.isTrue(Pop3Command.initialResponseFits("EXTERNAL", 0))
  })

  it("authLineFits counts the response as sent (base64 or \"=\"): 255 octets with CRLF at most", () => {
    // "AUTH PLAIN " (11) + response + CRLF (2) ≤ 255.
    assert.isTrue(Pop3Command.authLineFits("PLAIN", 242))
    assert.isFalse(Pop3Command.authLineFits("PLAIN", 243))
    fc.assert(fc.property(fc.constantFrom("PLAIN", "XOAUTH2", "SCRAM-SHA-256-PLUS"), fc.nat(400), (mechanism, n) =>
      Pop3Command.initialResponseFits(mechanism, n) ===
        Pop3Command.authLineFits(mechanism, n === 0 ? 1 : Buffer.from("x".repeat(n)).toString("base64").length)
    ))
  })

  it("never encodes a text argument holding CR, LF or NUL", () => {
    const withControl = fc.tuple(fc.string(), fc.constantFrom("\r", "\n", "\0"), fc.string()).map(([a, c, b]) => a + c + b)
    fc.assert(
      fc.property(withControl, (value) => {
        for (
          const command of [Pop3Command.user(value), Pop3Command.pass(secret(value)), Pop3Command.lang(value)]
        ) {
          assert.isTrue(Result.isFailure(Pop3Command.encode(command, { utf8: true })))
        }
      })
    )
  })

  it("encodes every printable ASCII password as one line", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[\x20-\x7e]{1,200}$/), (value) => {
        const result = Pop3Command.encode(Pop3Command.pass(secret(value)))
        assert.isTrue(Result.isSuccess(result))
        if (Result.isSuccess(result)) {
          const text = Buffer.from(result.success).toString("latin1")
          assert.strictEqual(text, `PASS ${value}\r\n`)
        }
      })
    )
  })
})

describe("Pop3Command.expectation", () => {
  const table: ReadonlyArray<readonly [Pop3Command.Pop3Command, Pop3Response.Expectation]> = [
    [Pop3Command.capa, "multi"],
    [Pop3Command.stls, "single"],
    [Pop3Command.user("a"), "single"],
    [Pop3Command.pass(secret("b")), "single"],
    [Pop3Command.apop("a", secret("c4c9334bac560ecc979e58001b3e22fb")), "single"],
    [Pop3Command.auth("PLAIN"), "sasl"],
    [Pop3Command.authContinue(raw("x")), "sasl"],
    [Pop3Command.authCancel, "single"],
    [Pop3Command.stat, "single"],
    [Pop3Command.list(), "multi"],
    [Pop3Command.list(1), "single"],
    [Pop3Command.uidl(), "multi"],
    [Pop3Command.uidl(1), "single"],
    [Pop3Command.retr(1), "multiStream"],
    [Pop3Command.top(1, 5), "multiStream"],
    [Pop3Command.dele(1), "single"],
    [Pop3Command.rset, "single"],
    [Pop3Command.noop, "single"],
    [Pop3Command.quit, "single"],
    [Pop3Command.utf8, "single"],
    [Pop3Command.lang(), "multi"],
    [Pop3Command.lang("en"), "single"]
  ]
  for (const [command, kind] of table) {
    it(`${command._tag} -> ${kind}`, () => assert.strictEqual(Pop3Command.expectation(command), kind))
  }
})
